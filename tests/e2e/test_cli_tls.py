"""rstmdb-cli over TLS (runtime.md §2.2, §3.2 "Clients"): trust (--ca-cert or the system
store), SAN verification of DNS names and IP addresses, SNI for DNS names only,
--server-name, --insecure, mTLS, TLS environment variables, configuration errors, and
plaintext/TLS mismatches; plus connect and request timeouts.

Part 1 runs against the RCP test peer over Python's ssl (cli_helpers.RcpPeer), for what needs
a scripted or misbehaving peer. Part 2 runs the same client against rstmdbd with tls.enabled."""

import re
import socket
import threading
import time

import pytest

from cli_helpers import (CertAuthority, Cli, ORDER_DEF, TOKEN, TOKEN_HASH, RcpPeer, auth_args,
                         run_cli, server_tls_context)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = CertAuthority(d / "ca")
    rogue = CertAuthority(d / "rogue", name="rogue CA")
    p = {
        "ca": ca.cert,
        "rogue_ca": rogue.cert,
        "server": ca.issue("rstmdb-server", ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]),
        "other": ca.issue("other", ["DNS:other.example"]),
        "client": ca.issue("client-1", client=True),
        "rogue_server": rogue.issue("rogue-server", ["DNS:localhost", "IP:127.0.0.1"]),
    }
    return p


@pytest.fixture
def peers():
    made = []

    def make(cert, key, client_ca=None, host="127.0.0.1", **kw):
        p = RcpPeer(tls_context=server_tls_context(cert, key, client_ca), host=host, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


def ping(peer, home, *tls_args, host=None, env=None):
    host = host or peer.host
    shown = "[%s]" % host if ":" in host else host
    return run_cli(["-s", "%s:%d" % (shown, peer.port)] + list(tls_args) + ["ping"], home, env=env)


# ---- part 1: against the TLS test peer ------------------------------------------------

def test_dns_name_verified_and_sent_as_sni(peers, pki, tmp_path):
    peer = peers(*pki["server"])
    r = ping(peer, tmp_path, "--tls", "--ca-cert", pki["ca"], host="localhost")
    assert (r.rc, r.out, r.err) == (0, "PONG\n", ""), r
    assert peer.sni_names == ["localhost"]


def test_ip_address_verified_without_sni(peers, pki, tmp_path):
    peer = peers(*pki["server"])
    r = ping(peer, tmp_path, "--ca-cert", pki["ca"])  # --ca-cert alone turns TLS on
    assert (r.rc, r.out) == (0, "PONG\n"), r
    assert peer.sni_names == [None]  # RFC 6066: no SNI for an address literal


def test_ipv6_address_verified(peers, pki, tmp_path):
    try:
        peer = peers(*pki["server"], host="::1")
    except OSError as e:
        pytest.skip("no IPv6 loopback on this machine: %s" % e)
    r = ping(peer, tmp_path, "--ca-cert", pki["ca"], host="::1")
    assert (r.rc, r.out) == (0, "PONG\n"), r


@pytest.mark.parametrize("host,reason", [("127.0.0.1", "IP address mismatch"),
                                         ("localhost", "hostname mismatch")])
def test_name_mismatch_fails(peers, pki, tmp_path, host, reason):
    peer = peers(*pki["other"])
    r = ping(peer, tmp_path, "--tls", "--ca-cert", pki["ca"], host=host)
    assert r.rc == 1 and r.out == ""
    assert r.err.lower() == ("connection failed: tls handshake failed: certificate verify failed: %s\n"
                             % reason.lower()), r
    r = run_cli(["--json", "-s", "%s:%d" % (host, peer.port), "--ca-cert", pki["ca"], "ping"], tmp_path)
    assert r.json_error()["code"] == "TLS_ERROR"


def test_server_name_overrides_sni_and_verification(peers, pki, tmp_path):
    peer = peers(*pki["other"])
    r = ping(peer, tmp_path, "--tls", "--ca-cert", pki["ca"], "--server-name", "other.example")
    assert (r.rc, r.out) == (0, "PONG\n"), r
    assert peer.sni_names == ["other.example"]


@pytest.mark.parametrize("trust", ["system", "rogue"])
def test_untrusted_certificate_fails(peers, pki, tmp_path, trust):
    peer = peers(*pki["server"])
    args = ["--tls"] if trust == "system" else ["--ca-cert", pki["rogue_ca"]]
    r = ping(peer, tmp_path, *args, host="localhost")
    assert r.rc == 1
    assert r.err.startswith("Connection failed: TLS handshake failed: certificate verify failed: "), r
    assert "issuer" in r.err


def test_insecure_skips_verification_and_implies_tls(peers, pki, tmp_path):
    peer = peers(*pki["rogue_server"])
    r = ping(peer, tmp_path, "-k", host="localhost")
    assert (r.rc, r.out) == (0, "PONG\n"), r
    assert peer.sni_names == ["localhost"]
    other = peers(*pki["other"])
    r = ping(other, tmp_path, "--tls", "--insecure")
    assert (r.rc, r.out) == (0, "PONG\n"), r


def test_mutual_tls(peers, pki, tmp_path):
    peer = peers(*pki["server"], client_ca=pki["ca"])
    cert, key = pki["client"]
    r = ping(peer, tmp_path, "--ca-cert", pki["ca"], "--client-cert", cert, "--client-key", key)
    assert (r.rc, r.out) == (0, "PONG\n"), r
    assert peer.client_subjects == [{"commonName": "client-1"}]
    # Without a client certificate the peer refuses it: an error, never a hang. Under TLS 1.3
    # the client finishes its handshake first and learns of the refusal on its first read:
    # from the peer's alert, or, when its HELLO reached the already closed socket, as a reset.
    r = ping(peer, tmp_path, "--ca-cert", pki["ca"])
    assert r.rc == 1 and r.out == ""
    assert re.match(r"Connection failed: (TLS (handshake failed|error): .*(certificate|alert).*"
                    r"|connection lost: Connection reset by peer|connection closed)\n$", r.err), r
    assert len(peer.handshake_errors) == 1 and "certificate" in peer.handshake_errors[0].lower()


def test_tls_from_environment(peers, pki, tmp_path):
    peer = peers(*pki["server"], client_ca=pki["ca"])
    cert, key = pki["client"]
    env = {"RSTMDB_TLS": "1", "RSTMDB_CA_CERT": pki["ca"], "RSTMDB_CLIENT_CERT": cert,
           "RSTMDB_CLIENT_KEY": key, "RSTMDB_SERVER": "localhost:%d" % peer.port}
    r = run_cli(["ping"], tmp_path, env=env)
    assert (r.rc, r.out) == (0, "PONG\n"), r
    assert peer.sni_names == ["localhost"]
    rogue = peers(*pki["rogue_server"])
    r = run_cli(["-s", "127.0.0.1:%d" % rogue.port, "ping"], tmp_path,
                env={"RSTMDB_INSECURE": "true"})
    assert (r.rc, r.out) == (0, "PONG\n"), r


def test_tls_configuration_errors(pki, tmp_path):
    cert, key = pki["client"]
    _, other_key = pki["other"]
    r = run_cli(["--client-cert", cert, "ping"], tmp_path)
    assert (r.rc, r.err) == (1, "Error: --client-cert and --client-key must be used together\n")
    # Refused before connecting: nothing listens on port 1.
    r = run_cli(["-s", "127.0.0.1:1", "--ca-cert", "/nonexistent/ca.pem", "ping"], tmp_path)
    assert r.rc == 1
    assert r.err.startswith("Connection failed: TLS configuration error: cannot load CA certificate "
                            "'/nonexistent/ca.pem': "), r
    r = run_cli(["-s", "127.0.0.1:1", "--json", "--client-cert", cert, "--client-key", other_key,
                 "ping"], tmp_path)
    assert r.json_error()["code"] == "CONFIG_ERROR"
    assert "cannot load client key" in r.json_error()["message"]


def test_tls_configuration_errors_with_a_listening_peer(peers, pki, tmp_path):
    peer = peers(*pki["server"])
    cert, key = pki["client"]
    _, other_key = pki["other"]
    r = ping(peer, tmp_path, "--ca-cert", "/nonexistent/ca.pem")
    assert r.rc == 1
    assert r.err.startswith("Connection failed: TLS configuration error: cannot load CA certificate "
                            "'/nonexistent/ca.pem': "), r
    r = ping(peer, tmp_path, "--ca-cert", pki["ca"], "--client-cert", cert, "--client-key", other_key)
    assert r.rc == 1
    assert r.err.startswith("Connection failed: TLS configuration error: cannot load client key "), r
    assert "mismatch" in r.err, r
    assert peer.requests == [] and peer.handshake_errors == []  # it never connected


def test_plaintext_client_against_tls_peer_fails_fast(peers, pki, tmp_path):
    peer = peers(*pki["server"])
    started = time.monotonic()
    r = run_cli(["-s", "127.0.0.1:%d" % peer.port, "--timeout", "5", "ping"], tmp_path)
    assert r.rc == 1 and r.out == ""
    assert time.monotonic() - started < 5
    assert r.err.startswith("Connection failed: "), r
    assert r.err.endswith(" (if the server uses TLS, add --tls)\n") or "try --tls" in r.err, r


def test_tls_client_against_plain_rstmdbd(server, tmp_path):
    r = run_cli(["-s", "127.0.0.1:%d" % server.port, "--tls", "--insecure", "ping"], tmp_path)
    assert r.rc == 1 and r.out == ""
    assert r.err == ("Connection failed: TLS handshake failed: the server closed the connection "
                     "during the handshake (is TLS enabled on the server?)\n"), r


# ---- timeouts -----------------------------------------------------------------------------

class MuteListener:
    """Accepts TCP connections and never writes a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while True:
                c, _ = self.sock.accept()
                self.conns.append(c)
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def mute():
    m = MuteListener()
    yield m
    m.close()


def test_connect_timeout_covers_the_tls_handshake(mute, tmp_path):
    started = time.monotonic()
    r = run_cli(["-s", "127.0.0.1:%d" % mute.port, "-k", "--connect-timeout", "0.5", "ping"], tmp_path)
    elapsed = time.monotonic() - started
    assert r.rc == 1
    assert r.err == "Connection failed: TLS handshake with 127.0.0.1:%d timed out\n" % mute.port, r
    assert 0.4 < elapsed < 5


def test_request_timeout(mute, tmp_path):
    started = time.monotonic()
    r = run_cli(["-s", "127.0.0.1:%d" % mute.port, "--timeout", "0.5", "ping"], tmp_path)
    elapsed = time.monotonic() - started
    assert r.rc == 1
    assert r.err == "Connection failed: request timeout (no response within 0.5 s)\n", r
    assert 0.4 < elapsed < 5
    r = run_cli(["--json", "-s", "127.0.0.1:%d" % mute.port, "--timeout", "0.3", "ping"], tmp_path)
    assert r.json_error()["code"] == "TIMEOUT"


# ---- part 2: against rstmdbd with TLS enabled --------------------------------------------

def tls_args(pki, mtls=False):
    cert, key = pki["server"]
    args = ["--set", "tls.enabled=true", "--set", "tls.cert_path=%s" % cert,
            "--set", "tls.key_path=%s" % key]
    if mtls:
        args += ["--set", "tls.require_client_cert=true", "--set", "tls.client_ca_path=%s" % pki["ca"]]
    return args


def start_tls_server(server_factory, args):
    """rstmdbd with its whole listener on TLS."""
    srv = server_factory(args)
    assert "Server listening on 127.0.0.1:%d (tls)" % srv.port in srv.stdout_text(), srv.output()
    return srv


def test_server_tls_commands(server_factory, pki, tmp_path):
    srv = start_tls_server(server_factory, tls_args(pki) + auth_args(TOKEN_HASH))
    cli = Cli("localhost", srv.port, tmp_path, token=TOKEN, extra=["--tls", "--ca-cert", pki["ca"]])
    assert cli.ok("ping") == "PONG\n"
    assert cli.json("info")["auth_required"] is True
    import json
    cli.ok("put-machine", "-n", "order", "-v", "1", json.dumps(ORDER_DEF))
    assert cli.json("create-instance", "-m", "order", "-V", "1", "-i", "t-1")["state"] == "created"
    assert cli.ok("apply-event", "-i", "t-1", "-e", "PAY").startswith("Applied event PAY on t-1\n")
    r = Cli("127.0.0.1", srv.port, tmp_path, token=TOKEN, extra=["--ca-cert", pki["ca"]])("ping")
    assert (r.rc, r.out) == (0, "PONG\n"), r
    r = Cli("127.0.0.1", srv.port, tmp_path)("ping")  # plaintext to the TLS listener
    assert r.rc == 1


def test_server_mutual_tls(server_factory, pki, tmp_path):
    srv = start_tls_server(server_factory, tls_args(pki, mtls=True))
    cert, key = pki["client"]
    ok = Cli("localhost", srv.port, tmp_path,
             extra=["--ca-cert", pki["ca"], "--client-cert", cert, "--client-key", key])
    assert ok.ok("ping") == "PONG\n"
    r = Cli("localhost", srv.port, tmp_path, extra=["--ca-cert", pki["ca"]])("ping")
    assert r.rc == 1 and "TLS" in r.err, r
