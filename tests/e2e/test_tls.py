"""TLS and mTLS on the RCP listener (runtime.md §3.2, protocol.md §2): the real rstmdbd with
certificates made here with the openssl command, clients over Python's ssl module.

Versions (1.2 and 1.3 served, 1.1 refused, tls.min_version), a plaintext client on the TLS port,
framing auto-detection inside TLS, mTLS with a good, missing or foreign client certificate,
the handshake timeout and its connection slot, failed handshakes closing cleanly and counted
(ADMIN_STATUS connections_rejected), the expiry WARN, and the material checks at start
(exit 78)."""

import json
import socket
import ssl
import subprocess
import time

import pytest

import rcp_client as rc
from admin_helpers import tool_ok
from conftest import EXIT_CONFIG, run_rstmdbd
from tls_helpers import Pki, client_context, count_lines, start_tls_server, wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def tls_connect(srv, ctx, **kw):
    return rc.Connection(srv.host, srv.port, ssl_context=ctx, **kw)


def status(srv):
    return json.loads(tool_ok(["status", "--data-dir", srv.data_dir]).stdout)


def rejected(srv):
    return status(srv)["connections_rejected"]


# ---- versions ---------------------------------------------------------------------------

@pytest.mark.parametrize("version,name", [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                                          (ssl.TLSVersion.TLSv1_3, "TLSv1.3")])
def test_tls_handshake_and_requests(server_factory, pki, version, name):
    srv = start_tls_server(server_factory, pki)
    with tls_connect(srv, client_context(pki.ca.cert, version)) as c:
        assert c.sock.version() == name
        cipher = c.sock.cipher()[0]
        if name == "TLSv1.2":
            assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
        c.hello()
        c.ping()
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "m", "version": 1, "definition": {
            "states": ["a", "b"], "initial": "a", "transitions": [{"from": "a", "event": "GO", "to": "b"}]}}))
        rc.assert_ok(c.request("CREATE_INSTANCE", {"machine": "m", "version": 1, "instance_id": "i-1"}))
        assert rc.assert_ok(c.request("APPLY_EVENT", {"instance_id": "i-1", "event": "GO"}))["to_state"] == "b"
    assert "tls: enabled, min TLSv1.2, cert expires " in srv.stdout_text()
    assert rejected(srv) == {"tls_handshake": 0, "handshake_timeout": 0}


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_1_1_is_refused_and_counted(server_factory, pki):
    srv = start_tls_server(server_factory, pki)
    ctx = client_context(pki.ca.cert, ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # so that the client offers 1.1 at all
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_connect(srv, ctx)
    wait_for(lambda: count_lines(srv, "TLS handshake with 127.0.0.1:") >= 1, what="the handshake WARN")
    line = next(l for l in srv.stdout_text().splitlines() if "TLS handshake with" in l)
    assert "unsupported protocol" in line, line
    assert rejected(srv)["tls_handshake"] == 1
    with srv.connect() as c:  # the listener goes on serving
        c.ping()


def test_min_version_1_3_refuses_1_2(server_factory, pki):
    srv = start_tls_server(server_factory, pki, extra=["--set", "tls.min_version=1.3"])
    assert "tls: enabled, min TLSv1.3" in srv.stdout_text()
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_connect(srv, client_context(pki.ca.cert, ssl.TLSVersion.TLSv1_2))
    with tls_connect(srv, client_context(pki.ca.cert, ssl.TLSVersion.TLSv1_3)) as c:
        c.ping()
    assert rejected(srv)["tls_handshake"] == 1


# ---- plaintext on the TLS port, framing inside TLS ------------------------------------------

@pytest.mark.parametrize("framing", ["rcpx", "jsonl"])
def test_plaintext_client_is_refused_without_rcp_bytes(server_factory, pki, framing):
    srv = start_tls_server(server_factory, pki)
    c = rc.Connection(srv.host, srv.port, framing=framing)
    c.send(rc.make_request("PING", id="1"))
    got = b""
    deadline = time.monotonic() + 5
    c.sock.settimeout(5)
    while time.monotonic() < deadline:
        try:
            chunk = c.sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        got += chunk
    c.close()
    # At most a TLS alert record (content type 21); never an RCP frame or a JSON line.
    assert got == b"" or got[0] == 0x15, got
    assert b"RCPX" not in got and b"{" not in got
    wait_for(lambda: count_lines(srv, "plaintext client on TLS listener") >= 1, what="the WARN")
    assert rejected(srv)["tls_handshake"] == 1


def test_framing_is_detected_inside_tls(server_factory, pki):
    srv = start_tls_server(server_factory, pki)
    for framing in ("rcpx", "jsonl"):
        with srv.connect(framing=framing) as c:
            msg = c.ping()
            assert msg.framing == framing
            assert rc.assert_ok(c.request("INFO"))["protocol_version"] == 1


# ---- mTLS -------------------------------------------------------------------------------

def mtls_exchange(srv, ctx):
    """Connect and PING; returns None on success or the failure."""
    try:
        with tls_connect(srv, ctx) as c:
            c.ping()  # TLS 1.3: the server checks the client certificate after the client's Finished
        return None
    except (ssl.SSLError, rc.ConnectionClosed, ConnectionResetError, BrokenPipeError) as e:
        return e


@pytest.mark.parametrize("client,reason", [("none", "peer did not return a certificate"),
                                           ("foreign", "certificate verify failed")])
def test_mtls_refuses_a_missing_or_foreign_client_certificate(server_factory, pki, client, reason):
    srv = start_tls_server(server_factory, pki, mtls=True)
    assert "mTLS required" in srv.stdout_text()
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert mtls_exchange(srv, client_context(pki.ca.cert, version, client_cert=pki.client)) is None
    bad = client_context(pki.ca.cert, client_cert=pki.rogue_client if client == "foreign" else None)
    assert mtls_exchange(srv, bad) is not None
    # The WARN is rate-limited (one line per kind and interval): one failure per server here.
    wait_for(lambda: count_lines(srv, reason) >= 1, what="the WARN naming %r" % reason)
    assert rejected(srv)["tls_handshake"] == 1
    st = status(srv)
    assert st["tls"]["client_certificate_required"] is True
    assert st["connections"] == 0  # the failed handshake holds no slot


# ---- handshake timeout and connection slots -----------------------------------------------

def test_stalled_handshakes_time_out_and_free_their_slot(server_factory, pki):
    srv = start_tls_server(server_factory, pki, extra=["--set", "network.handshake_timeout_secs=1",
                                                       "--set", "network.max_connections=1"])
    silent = socket.create_connection((srv.host, srv.port))  # sends nothing at all
    # The handshake holds the only slot: another connection is turned away meanwhile.
    wait_for(lambda: status(srv)["connections"] == 1, what="the stalled handshake to be accepted")
    with pytest.raises((ssl.SSLError, ConnectionResetError, ConnectionAbortedError, OSError)):
        with tls_connect(srv, srv.tls_client, timeout=3) as c:
            c.ping()
    started = time.monotonic()
    silent.settimeout(5)
    assert silent.recv(1024) == b""  # closed by the server, nothing sent
    assert time.monotonic() - started < 3
    silent.close()
    # A handshake that started (a partial ClientHello) and never finishes times out too.
    partial = socket.create_connection((srv.host, srv.port))
    partial.sendall(b"\x16\x03\x01\x00\xc8\x01")
    partial.settimeout(5)
    started = time.monotonic()
    try:
        partial.recv(1024)  # the server's alert, or EOF; never a wait past the deadline
    except ConnectionResetError:
        pass
    assert time.monotonic() - started < 3
    partial.close()
    wait_for(lambda: rejected(srv)["handshake_timeout"] == 2, what="two handshake timeouts")
    assert count_lines(srv, "not completed within 1 s (network.handshake_timeout_secs)") >= 1
    # The slot is free again.
    wait_for(lambda: status(srv)["connections"] == 0, what="the slot to be released")
    with srv.connect() as c:
        c.ping()


def test_failed_handshakes_never_leak_slots(server_factory, pki):
    srv = start_tls_server(server_factory, pki, extra=["--set", "network.max_connections=2"])
    for i in range(20):
        s = socket.create_connection((srv.host, srv.port))
        s.sendall(b"PING\n" if i % 2 else rc.encode(rc.make_request("PING", id="1"), "rcpx"))
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        s.close()
    wait_for(lambda: rejected(srv)["tls_handshake"] == 20, what="20 counted failures")
    wait_for(lambda: status(srv)["connections"] == 0, what="every slot released")
    a, b = srv.connect(), srv.connect()
    a.ping()
    b.ping()
    a.close()
    b.close()


# ---- certificate checks at start --------------------------------------------------------

def test_expiry_warning(server_factory, pki, tmp_path):
    srv = start_tls_server(server_factory, pki)  # the test CA issues for 2 days
    # 2 days from issue: "1 day(s)", or "2 day(s)" when the server checks within the second
    # the certificate was issued in (whole days left are counted).
    prefix = 'WARN  server: rstmdbd: config warning: tls.cert_path (flag --set): certificate "%s" expires in ' \
        % pki.server[0]
    assert count_lines(srv, prefix + "1 day(s)") + count_lines(srv, prefix + "2 day(s)") == 1, srv.output()
    long_lived = pki.ca.issue("long-lived", ["IP:127.0.0.1"], days=60)
    srv2 = server_factory(pki.server_args(cert=long_lived), start=False)
    srv2.tls_client = client_context(pki.ca.cert)
    srv2.start()
    assert count_lines(srv2, "expires in") == 0
    with srv2.connect() as c:
        c.ping()


def start_fails(tmp_path, args):
    p = run_rstmdbd(["--bind", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")] + args)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def test_unusable_tls_material_refuses_to_start(pki, tmp_path):
    cert, key = pki.server
    _, other_key = pki.client
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cases = [
        (pki.server_args(cert=(tmp_path / "missing.pem", key)), "tls.cert_path"),
        (pki.server_args(cert=(cert, tmp_path / "missing.key")), "tls.key_path"),
        (pki.server_args(cert=(cert, other_key)), "tls.key_path"),
        (pki.server_args(cert=(garbage, key)), "tls.cert_path"),
        (pki.server_args(extra=["--set", "tls.require_client_cert=true"]), "tls.client_ca_path"),
        (pki.server_args(extra=["--set", "tls.require_client_cert=true",
                                "--set", "tls.client_ca_path=%s" % garbage]), "tls.client_ca_path"),
        (pki.server_args(extra=["--set", "tls.cipher_list=NOT-A-CIPHER"]), "tls.cipher_list"),
        (["--set", "tls.enabled=true"], "tls.cert_path"),
    ]
    for args, key_name in cases:
        rc_, err = start_fails(tmp_path, args)
        assert rc_ == EXIT_CONFIG, (args, rc_, err)
        assert "config error: " + key_name in err, (args, err)


# ---- the TLS series of the metrics endpoint (runtime.md §3.2, §4.2) --------------------------

@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_series_on_the_metrics_endpoint(server_factory, pki):
    from metrics_helpers import METRICS_ARGS, metrics_port, scrape, wait_for_metric
    srv = start_tls_server(server_factory, pki, extra=METRICS_ARGS + ["--set", "network.handshake_timeout_secs=1"])
    srv.metrics_port = metrics_port(srv)
    s = scrape(srv)
    # The certificate's notAfter, as the openssl command reads it.
    p = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(pki.server[0])],
                       capture_output=True, timeout=30, check=True)
    not_after = ssl.cert_time_to_seconds(p.stdout.decode().strip().split("=", 1)[1])
    assert s.value("rstmdb_tls_certificate_expiry_timestamp_seconds") == not_after
    assert s.value("rstmdb_connections_rejected_total", reason="tls_handshake") == 0
    # A plaintext client on the TLS port, then a TLS 1.1 client: each counted once.
    c = rc.Connection(srv.host, srv.port)
    c.send(rc.make_request("PING", id="1"))
    c.sock.settimeout(5)
    try:
        while c.sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    c.close()
    wait_for_metric(srv, lambda m: m.value("rstmdb_connections_rejected_total", reason="tls_handshake") == 1,
                    "the plaintext client counted")
    old = client_context(pki.ca.cert)
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        tls_connect(srv, old)
    wait_for_metric(srv, lambda m: m.value("rstmdb_connections_rejected_total", reason="tls_handshake") == 2,
                    "the TLS 1.1 client counted")
    silent = socket.create_connection((srv.host, srv.port))
    silent.settimeout(5)
    assert silent.recv(1024) == b""
    silent.close()
    wait_for_metric(srv, lambda m: m.value("rstmdb_connections_rejected_total", reason="handshake_timeout") == 1,
                    "the silent handshake counted")


def test_a_certificate_without_subject_alt_name_is_a_warning(server_factory, pki):
    """Clients verify the SAN only: a CN-only certificate starts (it still serves insecure
    clients) with a WARN that says why verifying clients will refuse it."""
    cn_only = pki.ca.issue("cn-only-server", days=60)
    srv = server_factory(pki.server_args(cert=cn_only), start=False)
    srv.tls_client = client_context(pki.ca.cert)  # check_hostname off: the handshake itself works
    srv.start()
    assert count_lines(srv, 'WARN  server: rstmdbd: config warning: tls.cert_path (flag --set): certificate "%s" '
                            "has no subjectAltName" % cn_only[0]) == 1, srv.output()
    with srv.connect() as c:
        c.ping()
    verifying = ssl.create_default_context(cafile=str(pki.ca.cert))
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        tls_connect(srv, verifying, server_hostname="127.0.0.1")
    # The test CA's usual certificate names 127.0.0.1 and localhost: no such warning.
    good = start_tls_server(server_factory, pki)
    assert count_lines(good, "has no subjectAltName") == 0
