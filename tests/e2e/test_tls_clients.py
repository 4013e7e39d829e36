"""The TLS modes of the official Python and TypeScript clients, reproduced without their code
(runtime.md §3.2; issue 12): the real rstmdbd with TLS (and mTLS), certificates from
cli_helpers.CertAuthority (the recipe of docs/tls.md).

rstmdb-py (src/rstmdb/tls.py) builds `ssl.create_default_context()`, then for `insecure`
check_hostname=False + CERT_NONE, else `load_verify_locations(ca_cert)` if given, and
`load_cert_chain(client_cert, client_key)` for mTLS; it connects with
`asyncio.open_connection(host, port, ssl=ctx)`, so the host it was given is the name checked
(an IP address against an IP SAN, without SNI; a DNS name against a DNS SAN, sent as SNI).
Python 3.13's create_default_context() adds VERIFY_X509_STRICT and VERIFY_X509_PARTIAL_CHAIN;
the "strict" cases add them here so that Debian 12's Python 3.11 checks what 3.13 users get.

rstmdb-js (src/connection.ts) calls Node's `tls.connect({host, port, ...tls})`: tests/e2e/
tls_node_client.mjs does the same with each TlsConfig the client documents (rejectUnauthorized
false; ca; ca + servername; ca + cert + key; `true` = system store). Node is a test dependency
(deploy/install-deps.sh installs Debian's nodejs): without it these tests fail.

Both do HELLO, AUTH, PUT_MACHINE, CREATE_INSTANCE, WATCH_INSTANCE, APPLY_EVENT, receive the
watch event and close with close_notify; the refusals (no CA, wrong name, no client
certificate) must be prompt and say why.
"""

import asyncio
import hashlib
import json
import shutil
import ssl
import struct
import subprocess
import time
from pathlib import Path

import pytest

import rcp_client as rc
from tls_helpers import Pki, count_lines, start_tls_server, wait_for

TOKEN = "tok-tls-clients-Secret-1"
NODE_SCRIPT = Path(__file__).with_name("tls_node_client.mjs")
NODE_TIMEOUT = 30  # seconds for one script run (each of its waits is bounded at 5 s)
MACHINE = {"states": ["a", "b"], "initial": "a", "transitions": [{"from": "a", "event": "GO", "to": "b"}]}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def _auth_args():
    return ["--set", "auth.required=true",
            "--set", "auth.token_hashes=[%s]" % hashlib.sha256(TOKEN.encode()).hexdigest()]


@pytest.fixture(scope="module")
def tls_server(module_server_factory, pki):
    return start_tls_server(module_server_factory, pki, extra=_auth_args())


@pytest.fixture(scope="module")
def mtls_server(module_server_factory, pki):
    return start_tls_server(module_server_factory, pki, mtls=True, extra=_auth_args())


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    assert node, "node is required for the rstmdb-js TLS tests (deploy/install-deps.sh installs nodejs)"
    return node


# ---- rstmdb-py -------------------------------------------------------------------------

def rstmdb_py_context(ca_cert=None, client_cert=None, client_key=None, insecure=False, strict=False):
    """ssl context exactly as rstmdb-py's create_ssl_context(); `strict`: Python 3.13's defaults."""
    context = ssl.create_default_context()
    if strict:
        context.verify_flags |= ssl.VERIFY_X509_STRICT | ssl.VERIFY_X509_PARTIAL_CHAIN
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif ca_cert:
        context.load_verify_locations(str(ca_cert))
    if client_cert and client_key:
        context.load_cert_chain(str(client_cert), str(client_key))
    return context


async def _read_frame(reader):
    header = await reader.readexactly(rc.RCPX_HEADER_SIZE)
    assert header[:4] == rc.RCPX_MAGIC, header
    _, flags, ext_len, payload_len, crc = struct.unpack(">HHHII", header[4:])
    body = await reader.readexactly(ext_len + payload_len)
    payload = body[ext_len:]
    assert not flags & rc.FLAG_CRC_PRESENT or rc.crc32c(payload) == crc
    return json.loads(payload)


async def _py_round_trip(host, port, ctx, instance_id):
    reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
    try:
        pending = []

        async def request(op, params):
            rid = str(len(pending) + 1)
            pending.append(rid)
            writer.write(rc.encode_rcpx(rc.dumps({"type": "request", "id": rid, "op": op, "params": params})))
            await writer.drain()
            while True:
                msg = await _read_frame(reader)
                if msg.get("type") == "event":
                    events.append(msg)
                elif msg.get("id") == rid:
                    assert msg["status"] == "ok", msg
                    return msg["result"]

        events = []
        hello = await request("HELLO", {"protocol_version": 1, "client_name": "rstmdb-py",
                                        "wire_modes": ["binary_json"], "features": ["idempotency", "batch"]})
        await request("AUTH", {"method": "bearer", "token": TOKEN})
        await request("PUT_MACHINE", {"machine": "tls-clients", "version": 1, "definition": MACHINE})
        created = await request("CREATE_INSTANCE", {"machine": "tls-clients", "version": 1,
                                                    "instance_id": instance_id})
        watch = await request("WATCH_INSTANCE", {"instance_id": instance_id, "include_ctx": True})
        applied = await request("APPLY_EVENT", {"instance_id": instance_id, "event": "GO"})
        while not events:
            msg = await _read_frame(reader)
            if msg.get("type") == "event":
                events.append(msg)
        ssl_object = writer.get_extra_info("ssl_object")
        return {"protocol": ssl_object.version(), "hello": hello, "created": created["state"],
                "to_state": applied["to_state"], "event": events[0], "subscription": watch["subscription_id"]}
    finally:
        writer.close()  # close_notify
        try:
            await writer.wait_closed()
        except (ssl.SSLError, ConnectionError):
            pass


def py_round_trip(srv, host, ctx, instance_id):
    return asyncio.run(asyncio.wait_for(_py_round_trip(host, srv.port, ctx, instance_id), 15))


PY_OK = [  # (id, host, rstmdb-py options, strict, mTLS)
    ("insecure-ip", "127.0.0.1", {"insecure": True}, False, False),
    ("insecure-localhost", "localhost", {"insecure": True}, False, False),
    ("ca-ip", "127.0.0.1", {"ca": True}, False, False),
    ("ca-localhost", "localhost", {"ca": True}, False, False),
    ("ca-ip-strict", "127.0.0.1", {"ca": True}, True, False),
    ("ca-localhost-strict", "localhost", {"ca": True}, True, False),
    ("mtls-ca-ip", "127.0.0.1", {"ca": True}, False, True),
    ("mtls-ca-localhost-strict", "localhost", {"ca": True}, True, True),
    ("mtls-insecure", "127.0.0.1", {"insecure": True}, False, True),
]


def _py_context(pki, opts, strict, mtls):
    return rstmdb_py_context(ca_cert=pki.ca.cert if opts.get("ca") else None,
                             client_cert=pki.client[0] if mtls else None,
                             client_key=pki.client[1] if mtls else None,
                             insecure=opts.get("insecure", False), strict=strict)


@pytest.mark.parametrize("case,host,opts,strict,mtls", PY_OK, ids=[c[0] for c in PY_OK])
def test_rstmdb_py_tls_modes_round_trip(pki, tls_server, mtls_server, case, host, opts, strict, mtls):
    srv = mtls_server if mtls else tls_server
    got = py_round_trip(srv, host, _py_context(pki, opts, strict, mtls), "py-" + case)
    assert got["protocol"] == "TLSv1.3"  # what both sides prefer
    assert got["hello"]["protocol_version"] == 1 and got["hello"]["wire_mode"] == "binary_json"
    assert (got["created"], got["to_state"]) == ("a", "b")
    ev = got["event"]
    assert (ev["subscription_id"], ev["instance_id"], ev["from_state"], ev["to_state"]) == \
        (got["subscription"], "py-" + case, "a", "b")


def test_rstmdb_py_refusals_are_prompt_and_named(pki, tls_server, mtls_server):
    # Default context without ca_cert: the system store does not know the test CA.
    with pytest.raises(ssl.SSLCertVerificationError, match="unable to get local issuer"):
        py_round_trip(tls_server, "127.0.0.1", rstmdb_py_context(), "py-no-ca")
    # mTLS server, no client certificate: TLS 1.3 reports it on the first read, at once.
    started = time.monotonic()
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        py_round_trip(mtls_server, "127.0.0.1", rstmdb_py_context(ca_cert=pki.ca.cert), "py-no-cert")
    assert time.monotonic() - started < 5


def test_a_ca_without_key_usage_fails_strict_clients(pki, module_server_factory, tmp_path):
    """Why docs/tls.md's recipe sets keyUsage on the CA: a CA made by a bare `openssl req -x509`
    works for Python 3.11 but is refused by rstmdb-py on Python 3.13 (VERIFY_X509_STRICT)."""
    d = tmp_path / "bare"
    d.mkdir()
    ca_key, ca_pem = d / "ca.key", d / "ca.pem"
    key, csr, pem, ext = d / "s.key", d / "s.csr", d / "s.pem", d / "s.ext"

    def openssl(*args):
        p = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr

    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", ca_key, "-out", ca_pem, "-days", "2", "-subj", "/CN=bare CA")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=bare-server")
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial", "-out", pem,
            "-days", "30", "-extfile", ext)
    srv = module_server_factory(pki.server_args(cert=(pem, key), extra=_auth_args()), start=False)
    srv.tls_client = rstmdb_py_context(ca_cert=ca_pem)
    srv.start()
    assert py_round_trip(srv, "127.0.0.1", rstmdb_py_context(ca_cert=ca_pem), "bare-lenient")["to_state"] == "b"
    with pytest.raises(ssl.SSLCertVerificationError, match="CA cert does not include key usage"):
        py_round_trip(srv, "127.0.0.1", rstmdb_py_context(ca_cert=ca_pem, strict=True), "bare-strict")


# ---- rstmdb-js -------------------------------------------------------------------------

def node_client(srv, host, tls_option, instance_id):
    args = {"host": host, "port": srv.port, "token": TOKEN, "instance_id": instance_id, "tls": tls_option}
    p = subprocess.run([_node(), str(NODE_SCRIPT), json.dumps(args)], capture_output=True, timeout=NODE_TIMEOUT)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def _js_tls(pki, opts, mtls):
    out = {k: v for k, v in opts.items() if k != "ca"}
    if opts.get("ca"):
        out["ca"] = str(pki.ca.cert)
    if mtls:
        out["cert"], out["key"] = str(pki.client[0]), str(pki.client[1])
    return out


JS_OK = [  # (id, host, TlsConfig without files, mTLS)
    ("insecure-ip", "127.0.0.1", {"rejectUnauthorized": False}, False),
    ("insecure-localhost", "localhost", {"rejectUnauthorized": False}, False),
    ("ca-ip", "127.0.0.1", {"ca": True, "rejectUnauthorized": True}, False),
    ("ca-localhost", "localhost", {"ca": True, "rejectUnauthorized": True}, False),
    ("ca-ip-servername", "127.0.0.1", {"ca": True, "servername": "localhost"}, False),
    ("mtls-ca", "127.0.0.1", {"ca": True, "rejectUnauthorized": True}, True),
    ("mtls-insecure", "localhost", {"rejectUnauthorized": False}, True),
]


@pytest.mark.parametrize("case,host,opts,mtls", JS_OK, ids=[c[0] for c in JS_OK])
def test_rstmdb_js_tls_modes_round_trip(pki, tls_server, mtls_server, case, host, opts, mtls):
    srv = mtls_server if mtls else tls_server
    got = node_client(srv, host, _js_tls(pki, opts, mtls), "js-" + case)
    assert got["ok"], got
    assert got["protocol"] == "TLSv1.3"
    assert got["authorized"] is (opts.get("rejectUnauthorized", True) is not False), got
    assert got["hello"]["protocol_version"] == 1 and got["hello"]["wire_mode"] == "binary_json"
    assert (got["created_state"], got["to_state"]) == ("a", "b")
    assert got["event"] == {"from_state": "a", "to_state": "b", "event": "GO"}
    # After close_notify the server closes its side too, without an error.
    assert got["closed_by_server"] is True and got["close_error"] is None, got


def test_rstmdb_js_refusals_are_prompt_and_named(pki, tls_server, mtls_server):
    # tls: true = the system store, which does not hold the test CA.
    got = node_client(tls_server, "localhost", True, "js-system-store")
    assert not got["ok"] and got["stage"] == "handshake", got
    assert got["code"] == "UNABLE_TO_VERIFY_LEAF_SIGNATURE", got
    # A servername the certificate does not name.
    got = node_client(tls_server, "127.0.0.1", {"ca": str(pki.ca.cert), "servername": "db.example"}, "js-name")
    assert not got["ok"] and got["code"] == "ERR_TLS_CERT_ALTNAME_INVALID", got
    # mTLS without a client certificate: the server's certificate_required alert arrives at once
    # (rstmdb-js itself then waits for its request timeout: its pending HELLO is not failed on
    # close before the connection is established; a client matter).
    got = node_client(mtls_server, "127.0.0.1", {"ca": str(pki.ca.cert)}, "js-no-cert")
    assert not got["ok"] and got["code"] == "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED", got
    assert got["ms"] < 5000, got
    assert count_lines(mtls_server, "peer did not return a certificate") >= 1


def test_the_recipe_in_docs_tls_md_serves_both_clients(module_server_factory, tmp_path):
    """docs/tls.md "Making certificates", run as written: strict rstmdb-py and rstmdb-js verify
    the server by name and address, and mTLS with its client certificate is audited by CN."""
    doc = (Path(__file__).parents[2] / "docs" / "tls.md").read_text()
    section = doc.split("### Making certificates", 1)[1]
    script = section.split("```sh\n", 1)[1].split("```", 1)[0]
    p = subprocess.run(["bash", "-euc", script], cwd=tmp_path, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    assert b"server.pem: OK" in p.stdout and b"billing-svc.pem: OK" in p.stdout, p.stdout
    ca = tmp_path / "ca.pem"
    args = ["--set", "tls.enabled=true", "--set", "tls.cert_path=%s" % (tmp_path / "server.pem"),
            "--set", "tls.key_path=%s" % (tmp_path / "server.key"), "--set", "tls.require_client_cert=true",
            "--set", "tls.client_ca_path=%s" % ca, "--set", "logging.access_log=writes"] + _auth_args()
    client = (tmp_path / "billing-svc.pem", tmp_path / "billing-svc.key")
    srv = module_server_factory(args, start=False)
    srv.tls_client = rstmdb_py_context(ca_cert=ca, client_cert=client[0], client_key=client[1])
    srv.start()
    for host in ("127.0.0.1", "localhost"):
        ctx = rstmdb_py_context(ca_cert=ca, client_cert=client[0], client_key=client[1], strict=True)
        assert py_round_trip(srv, host, ctx, "doc-py-" + host)["to_state"] == "b"
        got = node_client(srv, host, {"ca": str(ca), "cert": str(client[0]), "key": str(client[1])},
                          "doc-js-" + host)
        assert got["ok"] and got["authorized"], got
    # AUTH, PUT_MACHINE, CREATE_INSTANCE, APPLY_EVENT audited for each of the four runs.
    wait_for(lambda: count_lines(srv, 'client_cn="billing-svc"') == 16, what="16 access lines")
