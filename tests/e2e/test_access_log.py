"""The per-request DEBUG line (logger `request`) and the `access` audit line
(logging.access_log) of runtime.md §4.4, from the real server's stdout: the fields in order,
the principal (the token's label, or sha256:<8 hex> for an unlabelled token, "-" before AUTH),
`writes` auditing exactly the writes and AUTH, `all` everything, text and JSON formats — and
never a token, AUTH params or a body (ctx, payload, initial_ctx, definition); client strings
cannot forge a field or a line.
"""

import hashlib
import json
import re
import time

import pytest

import rcp_client as rc

TOKEN = "tok-access-Secret-1"
OTHER_TOKEN = "tok-unlabelled-Secret-2"
CTX_SECRET = "CTX-SECRET-VALUE"
PAYLOAD_SECRET = "PAYLOAD-SECRET-VALUE"
DEF_SECRET = "DEF-SECRET-STATE"
MACHINE = {"states": ["a", DEF_SECRET], "initial": "a",
           "transitions": [{"from": "a", "event": "GO", "to": DEF_SECRET}]}

FIELDS = ["conn", "peer", "op", "id", "status", "code", "dur_us", "bytes_in", "bytes_out"]
OPTIONAL = ["instance_id", "machine", "version", "wal_offset"]


def sha(t):
    return hashlib.sha256(t.encode()).hexdigest()


def _secrets_file(tmp_path):
    p = tmp_path / "tokens.secret"
    p.write_text("%s ops-team\n%s\n" % (sha(TOKEN), sha(OTHER_TOKEN)))
    p.chmod(0o600)
    return p


def _server(server_factory, tmp_path, mode, level="info", fmt="text", auth=True):
    args = ["--set", "logging.access_log=%s" % mode, "--set", "logging.level=%s" % level,
            "--set", "logging.format=%s" % fmt]
    if auth:
        args += ["--set", "auth.required=true", "--set", "auth.secrets_file=%s" % _secrets_file(tmp_path)]
    return server_factory(args)


_TEXT_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]+)')


def _text_fields(rest):
    """key=value pairs of a text line, in order (quoted values decoded as JSON strings)."""
    out = []
    pos = 0
    while pos < len(rest):
        m = _TEXT_FIELD.match(rest, pos)
        assert m, "cannot parse %r at %d" % (rest, pos)
        v = m.group(2)
        out.append((m.group(1), json.loads(v) if v.startswith('"') else v))
        pos = m.end()
        if pos < len(rest):
            assert rest[pos] == " ", rest
            pos += 1
    return out


def _lines(srv, logger, fmt="text"):
    out = []
    for line in srv.stdout_text().splitlines():
        if fmt == "json":
            doc = json.loads(line)
            if doc["logger"] == logger:
                out.append(doc)
        else:
            m = re.match(r"^\S+ (INFO |DEBUG) %s: (.*)$" % logger, line)
            if m:
                out.append((m.group(1).strip(), _text_fields(m.group(2))))
    return out


def _wait_lines(srv, logger, count, fmt="text", timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        lines = _lines(srv, logger, fmt)
        if len(lines) >= count:
            return lines
        assert time.monotonic() < deadline, "expected %d %s lines\n%s" % (count, logger, srv.output())
        time.sleep(0.05)


def _traffic(c):
    """AUTH, then reads and writes with secrets in every body."""
    rc.assert_ok(c.request("AUTH", {"method": "bearer", "token": TOKEN}, id="a1"))
    rc.assert_ok(c.request("PING", id="p1"))
    rc.assert_ok(c.request("PUT_MACHINE", {"machine": "acc", "version": 1, "definition": MACHINE}, id="m1"))
    rc.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "i-1", "machine": "acc", "version": 1,
                                               "initial_ctx": {"k": CTX_SECRET}}, id="c1"))
    rc.assert_ok(c.request("GET_INSTANCE", {"instance_id": "i-1"}, id="g1"))
    rc.assert_ok(c.request("APPLY_EVENT", {"instance_id": "i-1", "event": "GO",
                                           "payload": {"p": PAYLOAD_SECRET}}, id="e1"))
    rc.assert_error(c.request("APPLY_EVENT", {"instance_id": "i-1", "event": "GO"}, id="e2"),
                    "INVALID_TRANSITION")
    rc.assert_ok(c.request("BATCH", {"ops": [{"op": "PING"}]}, id="b1"))
    rc.assert_ok(c.request("DELETE_INSTANCE", {"instance_id": "i-1"}, id="d1"))


def _assert_no_secrets(srv):
    out = srv.stdout_text() + srv.stderr_text()
    for secret in (TOKEN, OTHER_TOKEN, sha(TOKEN), sha(OTHER_TOKEN), CTX_SECRET, PAYLOAD_SECRET, DEF_SECRET):
        assert secret not in out, secret
    assert sha(TOKEN)[:16] not in out  # no long hash prefix either


def test_writes_mode_audits_writes_and_auth_with_the_principal(server_factory, tmp_path):
    srv = _server(server_factory, tmp_path, "writes")
    with srv.connect() as c:
        _traffic(c)
    lines = _wait_lines(srv, "access", 7)
    assert [dict(f)["op"] for _, f in lines] == ["AUTH", "PUT_MACHINE", "CREATE_INSTANCE", "APPLY_EVENT",
                                                 "APPLY_EVENT", "BATCH", "DELETE_INSTANCE"], lines
    for level, fields in lines:
        assert level == "INFO"
        keys = [k for k, _ in fields]
        assert keys[:9] == FIELDS, keys
        assert keys[-1] == "principal"
        assert set(keys[9:-1]) <= set(OPTIONAL), keys
        assert [k for k in keys[9:-1]] == [k for k in OPTIONAL if k in keys], keys
        d = dict(fields)
        assert d["principal"] == "ops-team"
        assert d["peer"].startswith("127.0.0.1:")
        assert int(d["dur_us"]) >= 0 and int(d["bytes_in"]) > 0 and int(d["bytes_out"]) > 0
    by_id = {dict(f)["id"]: dict(f) for _, f in lines}
    assert by_id["a1"]["status"] == "ok" and by_id["a1"]["code"] == "-"
    assert set(by_id["a1"]) == set(FIELDS) | {"principal"}  # nothing of AUTH's params
    assert by_id["m1"]["machine"] == "acc" and by_id["m1"]["version"] == "1"
    assert by_id["c1"]["instance_id"] == "i-1" and by_id["c1"]["wal_offset"] == "2"
    assert by_id["e1"]["wal_offset"] == "3"
    assert by_id["e2"]["status"] == "error" and by_id["e2"]["code"] == "INVALID_TRANSITION"
    assert "wal_offset" not in by_id["e2"]
    # At INFO there are no per-request DEBUG lines.
    assert _lines(srv, "request") == []
    _assert_no_secrets(srv)


def test_all_mode_debug_lines_and_fingerprint_principal(server_factory, tmp_path):
    srv = _server(server_factory, tmp_path, "all", level="debug")
    with srv.connect() as c:
        # Before AUTH: refused, audited without a principal.
        rc.assert_error(c.request("GET_INSTANCE", {"instance_id": "x"}, id="u1"), "UNAUTHORIZED")
        rc.assert_ok(c.request("AUTH", {"method": "bearer", "token": OTHER_TOKEN}, id="a1"))
        rc.assert_ok(c.request("PING", id="p1"))
        rc.assert_ok(c.request("LIST_MACHINES", id="l1"))
    with srv.connect() as c:
        rc.assert_error(c.request("AUTH", {"method": "bearer", "token": "wrong-" + TOKEN}, id="a2"),
                        "AUTH_FAILED")
    access = {dict(f)["id"]: dict(f) for _, f in _wait_lines(srv, "access", 5)}
    assert access["u1"]["principal"] == "-" and access["u1"]["code"] == "UNAUTHORIZED"
    assert access["a1"]["principal"] == "sha256:" + sha(OTHER_TOKEN)[:8]
    assert access["p1"]["principal"] == "sha256:" + sha(OTHER_TOKEN)[:8]
    assert access["l1"]["op"] == "LIST_MACHINES"
    assert access["a2"]["principal"] == "-" and access["a2"]["code"] == "AUTH_FAILED"
    # One DEBUG request line per request, the same fields without the principal.
    request = _wait_lines(srv, "request", 5)
    assert sorted(dict(f)["id"] for _, f in request) == ["a1", "a2", "l1", "p1", "u1"]
    for level, fields in request:
        assert level == "DEBUG"
        assert [k for k, _ in fields][:9] == FIELDS
        assert "principal" not in dict(fields)
    out = srv.stdout_text()
    assert "wrong-" not in out
    _assert_no_secrets(srv)


def test_client_strings_cannot_forge_fields_or_lines(server_factory, tmp_path):
    srv = _server(server_factory, tmp_path, "all", auth=False)
    evil = 'x" principal="root\n2026-01-01T00:00:00.000Z INFO  access: op=FLUSH_ALL'
    with srv.connect() as c:
        rc.assert_error(c.request("GET_INSTANCE", {"instance_id": evil}, id=evil), "INSTANCE_NOT_FOUND")
        rc.assert_error(c.request("GET_INSTANCE", {"instance_id": "y" * 5000}, id="long"), "INSTANCE_NOT_FOUND")
    lines = _wait_lines(srv, "access", 2)
    assert len(lines) == 2, lines
    d = dict(lines[0][1])
    assert d["id"] == evil and d["instance_id"] == evil and d["principal"] == "-"
    # Long client strings are cut.
    long_line = dict(lines[1][1])
    assert long_line["instance_id"] == "y" * 256 + "..."
    assert "FLUSH_ALL" not in [dict(f)["op"] for _, f in lines]


def test_json_format_lines(server_factory, tmp_path):
    srv = _server(server_factory, tmp_path, "writes", level="debug", fmt="json")
    with srv.connect() as c:
        _traffic(c)
    access = _wait_lines(srv, "access", 7, fmt="json")
    for doc in access:
        assert list(doc)[:4] == ["ts", "level", "logger", "msg"], doc
        assert doc["level"] == "info" and doc["msg"] == "access"
        assert list(doc)[4:13] == FIELDS, doc
        assert doc["principal"] == "ops-team"
        assert isinstance(doc["conn"], int) and isinstance(doc["dur_us"], int)
    c1 = [d for d in access if d["id"] == "c1"][0]
    assert c1["instance_id"] == "i-1" and c1["wal_offset"] == 2 and c1["code"] is None
    request = _wait_lines(srv, "request", 9, fmt="json")
    assert {d["op"] for d in request} >= {"PING", "GET_INSTANCE", "AUTH"}
    assert all(d["level"] == "debug" and "principal" not in d for d in request)
    _assert_no_secrets(srv)


def test_access_log_off_by_default(server_factory, tmp_path):
    srv = server_factory()
    with srv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "o", "version": 1, "definition": MACHINE}))
    assert _lines(srv, "access") == []


# ---- mTLS: the client certificate's CN (runtime.md §3.2 "CN in audit lines") -----------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    from tls_helpers import Pki
    return Pki(tmp_path_factory.mktemp("pki"))


def _tls_server(server_factory, pki, tmp_path, mtls, fmt="text"):
    from tls_helpers import start_tls_server
    return start_tls_server(server_factory, pki, mtls=mtls, extra=[
        "--set", "logging.access_log=all", "--set", "logging.format=%s" % fmt,
        "--set", "auth.required=true", "--set", "auth.secrets_file=%s" % _secrets_file(tmp_path)])


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_mtls_sessions_are_audited_with_the_certificate_cn(server_factory, pki, tmp_path, fmt):
    srv = _tls_server(server_factory, pki, tmp_path, mtls=True, fmt=fmt)
    with srv.connect() as c:  # presents client-1's certificate
        rc.assert_error(c.request("GET_INSTANCE", {"instance_id": "x"}, id="u1"), "UNAUTHORIZED")
        rc.assert_ok(c.request("AUTH", {"method": "bearer", "token": TOKEN}, id="a1"))
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "acc", "version": 1, "definition": MACHINE}, id="m1"))
    lines = _wait_lines(srv, "access", 3, fmt=fmt)
    if fmt == "json":
        by_id = {d["id"]: d for d in lines}
        for d in lines:
            assert list(d)[-2:] == ["principal", "client_cn"], d
    else:
        by_id = {dict(f)["id"]: dict(f) for _, f in lines}
        for _, fields in lines:
            assert [k for k, _ in fields][-2:] == ["principal", "client_cn"], fields
    # Before AUTH the certificate is the only identity; after it, the token's principal, with
    # the certificate still named.
    assert by_id["u1"]["principal"] == "cn:client-1" and by_id["u1"]["client_cn"] == "client-1"
    assert by_id["a1"]["principal"] == "ops-team" and by_id["a1"]["client_cn"] == "client-1"
    assert by_id["m1"]["principal"] == "ops-team" and by_id["m1"]["client_cn"] == "client-1"
    _assert_no_secrets(srv)


def test_tls_without_client_certificates_has_no_cn(server_factory, pki, tmp_path):
    srv = _tls_server(server_factory, pki, tmp_path, mtls=False)
    with srv.connect() as c:
        rc.assert_error(c.request("GET_INSTANCE", {"instance_id": "x"}, id="u1"), "UNAUTHORIZED")
        rc.assert_ok(c.request("AUTH", {"method": "bearer", "token": TOKEN}, id="a1"))
    lines = _wait_lines(srv, "access", 2)
    by_id = {dict(f)["id"]: dict(f) for _, f in lines}
    assert by_id["u1"]["principal"] == "-" and by_id["a1"]["principal"] == "ops-team"
    assert all("client_cn" not in dict(f) for _, f in lines), lines
