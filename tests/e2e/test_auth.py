"""AUTH and its enforcement (protocol.md §11, runtime.md §1)."""

import hashlib

import pytest

import rcp_client as rc
from conftest import EXIT_CONFIG, run_rstmdbd

TOKEN = "my-secret-token"
TOKEN_HASH = "ea5add57437cbf20af59034d7ed17968dcc56767b41965fcc5b376d45db8b4a3"
UPPER_TOKEN = "another token ✓"
OTHER_TOKEN = "third-token"

UNAUTHORIZED_MSG = "authentication required"


def sha256_hex(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def auth_args(*hashes, extra=()):
    return ["--set", "auth.required=true",
            "--set", "auth.token_hashes=[%s]" % ",".join(hashes)] + list(extra)


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    return module_server_factory(auth_args(TOKEN_HASH, sha256_hex(UPPER_TOKEN).upper()))


def test_token_hash_example():
    assert sha256_hex(TOKEN) == TOKEN_HASH


# ---- enforcement --------------------------------------------------------------------

@pytest.mark.parametrize("op", [op for op in rc.KNOWN_OPS if op not in ("HELLO", "AUTH", "PING", "BYE")])
@pytest.mark.parametrize("with_params", [True, False])
def test_ops_need_auth(auth_server, op, with_params):
    """UNAUTHORIZED comes before parameter validation, so empty params still get it."""
    with auth_server.connect() as c:
        msg = c.request(op, {} if with_params else None)
        err = rc.assert_error(msg, "UNAUTHORIZED", UNAUTHORIZED_MSG)
        assert err["retryable"] is False
        c.ping()


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_info_unauthorized_in_every_framing(auth_server, framing):
    with auth_server.connect(framing) as c:
        rc.assert_error(c.request("INFO", framing=framing), "UNAUTHORIZED", UNAUTHORIZED_MSG)
        c.ping()


def test_session_ops_allowed_without_auth(auth_server):
    with auth_server.connect() as c:
        result = rc.assert_ok(c.request("HELLO", {"protocol_version": 1}))
        assert result["protocol_version"] == 1
        c.ping()
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
        assert rc.assert_ok(c.request("BYE")) == {"goodbye": True}
        c.expect_closed(5)


def test_unknown_op_is_bad_request_before_auth(auth_server):
    with auth_server.connect() as c:
        rc.assert_error(c.request("FROB"), "BAD_REQUEST", "unknown operation: FROB")
        rc.assert_error(c.request("info"), "BAD_REQUEST", "unknown operation: info")
        # envelope errors still come first too
        c.send_raw(rc.encode_rcpx(b'{"id":"x","op":"INFO","params":[]}'))
        rc.assert_error(c.recv(), "BAD_REQUEST", "invalid request: params must be an object", id="x")


def test_auth_then_everything_allowed(auth_server):
    with auth_server.connect() as c:
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
        assert rc.assert_ok(c.auth(TOKEN)) == {"authenticated": True}
        info = rc.assert_ok(c.request("INFO"))
        assert info["auth_required"] is True
        for op in rc.DATA_OPS:
            msg = c.request(op, {}, skip_events=True)
            if msg["status"] == "error":
                assert msg["error"]["code"] != "UNAUTHORIZED", msg


def test_auth_is_per_connection(auth_server):
    with auth_server.connect() as a, auth_server.connect() as b:
        assert rc.assert_ok(a.auth(TOKEN)) == {"authenticated": True}
        rc.assert_ok(a.request("INFO"))
        rc.assert_error(b.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
    with auth_server.connect() as c:
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)


def test_hello_does_not_change_auth_state(auth_server):
    with auth_server.connect() as c:
        rc.assert_ok(c.request("HELLO", {"protocol_version": 1}))
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
        rc.assert_ok(c.auth(TOKEN))
        rc.assert_ok(c.request("HELLO", {"protocol_version": 1, "wire_modes": ["binary_json"]}))
        rc.assert_ok(c.request("INFO"))


def test_pipelined_hello_auth_info(auth_server):
    with auth_server.connect() as c:
        c.send_raw(rc.encode_rcpx(rc.make_request("HELLO", {"protocol_version": 1}, id="1"))
                   + rc.encode_rcpx(rc.make_request("INFO", None, id="2"))
                   + rc.encode_rcpx(rc.make_request("AUTH", {"token": TOKEN}, id="3"))
                   + rc.encode_rcpx(rc.make_request("INFO", None, id="4")))
        rc.assert_ok(c.recv(), id="1")
        rc.assert_error(c.recv(), "UNAUTHORIZED", UNAUTHORIZED_MSG, id="2")
        assert rc.assert_ok(c.recv(), id="3") == {"authenticated": True}
        assert rc.assert_ok(c.recv(), id="4")["auth_required"] is True


# ---- AUTH params ----------------------------------------------------------------------

@pytest.mark.parametrize("method", [None, "bearer", "BEARER", "Bearer", "bEaReR"])
def test_auth_method_default_and_case_insensitive(auth_server, method):
    with auth_server.connect() as c:
        assert rc.assert_ok(c.auth(TOKEN, method=method)) == {"authenticated": True}
        rc.assert_ok(c.request("INFO"))


def test_upper_case_configured_hash(auth_server):
    with auth_server.connect() as c:
        assert rc.assert_ok(c.auth(UPPER_TOKEN)) == {"authenticated": True}
        rc.assert_ok(c.request("INFO"))


@pytest.mark.parametrize("method", ["basic", "token", "bearer ", "", "BEARER2"])
def test_auth_unsupported_method(auth_server, method):
    with auth_server.connect() as c:
        msg = c.auth(TOKEN, method=method)
        rc.assert_error(msg, "AUTH_FAILED",
                        "authentication failed: unsupported auth method: %s" % method)
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)


@pytest.mark.parametrize("method", [5, True, ["bearer"], {"m": "bearer"}])
def test_auth_method_not_a_string(auth_server, method):
    with auth_server.connect() as c:
        msg = c.request("AUTH", {"method": method, "token": TOKEN})
        rc.assert_error(msg, "BAD_REQUEST", message_contains="method")
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)


def test_auth_empty_token(auth_server):
    with auth_server.connect() as c:
        rc.assert_error(c.auth(""), "AUTH_FAILED", "authentication failed: empty token")
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)


@pytest.mark.parametrize("params", [None, {}, {"method": "bearer"}, {"token": None},
                                    {"token": 12345}, {"token": [TOKEN]}, {"token": {"t": TOKEN}}])
def test_auth_missing_token(auth_server, params):
    with auth_server.connect() as c:
        rc.assert_error(c.request("AUTH", params), "BAD_REQUEST",
                        "invalid request: missing field 'token'")
        c.ping()


@pytest.mark.parametrize("token", ["wrong", TOKEN + " ", " " + TOKEN, TOKEN.upper(), TOKEN_HASH,
                                   "my-secret-toke", "x" * 5000])
def test_auth_invalid_token(auth_server, token):
    with auth_server.connect() as c:
        rc.assert_error(c.auth(token), "AUTH_FAILED", "authentication failed: invalid token")
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
        c.ping()


def test_failed_auth_does_not_undo_success(auth_server):
    with auth_server.connect() as c:
        rc.assert_ok(c.auth(TOKEN))
        rc.assert_error(c.auth("wrong"), "AUTH_FAILED", "authentication failed: invalid token")
        rc.assert_error(c.auth(""), "AUTH_FAILED", "authentication failed: empty token")
        rc.assert_error(c.auth(TOKEN, method="basic"), "AUTH_FAILED")
        rc.assert_ok(c.request("INFO"))
        assert rc.assert_ok(c.auth(UPPER_TOKEN)) == {"authenticated": True}
        rc.assert_ok(c.request("INFO"))


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_auth_in_every_framing(auth_server, framing):
    with auth_server.connect(framing) as c:
        msg = c.auth(TOKEN, framing=framing)
        assert msg.framing == framing
        assert rc.assert_ok(msg) == {"authenticated": True}
        rc.assert_ok(c.request("INFO", framing=framing))


# ---- failure limit -----------------------------------------------------------------------

def expect_closed_after_last_failure(c):
    """After the failure that reaches the limit, the server may answer it, then closes."""
    if c.is_closed_now():
        return
    try:
        msg = c.recv(timeout=5)
    except rc.ConnectionClosed:
        return
    rc.assert_error(msg, "AUTH_FAILED", "authentication failed: invalid token")
    c.expect_closed(5)


def fail_auth(c, n):
    for i in range(n):
        rc.assert_error(c.auth("wrong-%d" % i), "AUTH_FAILED",
                        "authentication failed: invalid token")


def test_connection_closed_after_default_10_failures(auth_server):
    with auth_server.connect() as c:
        fail_auth(c, 9)
        c.ping()
        c.send(rc.make_request("AUTH", {"token": "wrong-10"}, id="tenth"))
        expect_closed_after_last_failure(c)
    with auth_server.connect() as c:  # the limit is per connection
        fail_auth(c, 3)
        rc.assert_ok(c.auth(TOKEN))


def test_failure_limit_configurable(server_factory):
    srv = server_factory(auth_args(TOKEN_HASH, extra=["--set", "auth.max_failures_per_connection=3"]))
    with srv.connect() as c:
        fail_auth(c, 2)
        c.ping()
        c.send(rc.make_request("AUTH", {"token": "wrong"}, id="third"))
        expect_closed_after_last_failure(c)


def test_failure_limit_zero_is_unlimited(server_factory):
    srv = server_factory(auth_args(TOKEN_HASH, extra=["--set", "auth.max_failures_per_connection=0"]))
    with srv.connect() as c:
        fail_auth(c, 25)
        c.ping()
        rc.assert_ok(c.auth(TOKEN))
        rc.assert_ok(c.request("INFO"))


# ---- the Java and C# JSONL patterns --------------------------------------------------------

def test_java_jsonl_pattern(auth_server):
    """Java: HELLO(wire_mode jsonl) and AUTH as RCPX frames, answered as frames; then JSONL
    requests answered as JSONL lines; BYE as a frame answered as a frame."""
    with auth_server.connect("rcpx") as c:
        msg = c.request("HELLO", {"protocol_version": 1, "wire_mode": "jsonl",
                                  "client_name": "rstmdb-java"}, framing="rcpx")
        assert msg.framing == "rcpx"
        assert rc.assert_ok(msg)["wire_mode"] == "jsonl"
        assert b'"wire_mode":"jsonl"' in msg.payload
        msg = c.request("AUTH", {"token": TOKEN}, framing="rcpx")
        assert msg.framing == "rcpx"
        assert rc.assert_ok(msg) == {"authenticated": True}
        for i in range(3):
            msg = c.request("PING", framing="jsonl")
            assert msg.framing == "jsonl"
            msg = c.request("INFO", framing="jsonl")
            assert msg.framing == "jsonl" and rc.assert_ok(msg)["auth_required"] is True
        msg = c.request("BYE", framing="rcpx")
        assert msg.framing == "rcpx" and rc.assert_ok(msg) == {"goodbye": True}
        c.expect_closed(5)


def test_csharp_jsonl_pattern(auth_server):
    """C#: HELLO as a frame, then AUTH and everything else as JSONL lines."""
    with auth_server.connect("rcpx") as c:
        msg = c.request("HELLO", {"protocol_version": 1, "wire_mode": "jsonl"}, framing="rcpx")
        assert msg.framing == "rcpx" and rc.assert_ok(msg)["wire_mode"] == "jsonl"
        msg = c.request("AUTH", {"method": "bearer", "token": TOKEN}, framing="jsonl")
        assert msg.framing == "jsonl" and rc.assert_ok(msg) == {"authenticated": True}
        msg = c.request("INFO", framing="jsonl")
        assert msg.framing == "jsonl"
        rc.assert_ok(msg)


def test_jsonl_via_wire_modes(auth_server):
    with auth_server.connect("rcpx") as c:
        msg = c.request("HELLO", {"protocol_version": 1, "wire_modes": ["jsonl", "binary_json"]})
        assert msg.framing == "rcpx" and rc.assert_ok(msg)["wire_mode"] == "jsonl"
        msg = c.request("AUTH", {"token": TOKEN}, framing="jsonl")
        assert msg.framing == "jsonl" and rc.assert_ok(msg) == {"authenticated": True}
        assert c.request("INFO", framing="jsonl").framing == "jsonl"


# ---- auth not required ------------------------------------------------------------------

@pytest.mark.parametrize("token", ["anything", "x", TOKEN])
def test_auth_not_required_accepts_any_nonempty_token(server, token):
    with server.connect() as c:
        assert rc.assert_ok(c.request("INFO"))["auth_required"] is False
        assert rc.assert_ok(c.auth(token)) == {"authenticated": True}
        assert rc.assert_ok(c.auth(token, method="BEARER")) == {"authenticated": True}


def test_auth_not_required_empty_and_missing_token(server):
    with server.connect() as c:
        rc.assert_error(c.auth(""), "AUTH_FAILED", "authentication failed: empty token")
        rc.assert_error(c.request("AUTH", {}), "BAD_REQUEST", "invalid request: missing field 'token'")
        rc.assert_ok(c.request("INFO"))


# ---- configuration sources --------------------------------------------------------------

def test_auth_from_env(server_factory):
    srv = server_factory(env={"RSTMDB_AUTH_REQUIRED": "true",
                              "RSTMDB_AUTH_TOKEN_HASH": "%s,%s" % (TOKEN_HASH, sha256_hex(OTHER_TOKEN))})
    for token in (TOKEN, OTHER_TOKEN):
        with srv.connect() as c:
            rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
            rc.assert_error(c.auth("nope"), "AUTH_FAILED", "authentication failed: invalid token")
            assert rc.assert_ok(c.auth(token)) == {"authenticated": True}
            assert rc.assert_ok(c.request("INFO"))["auth_required"] is True


@pytest.mark.parametrize("key", ["auth.secrets_file", "auth.token_hashes_file"])
def test_auth_from_secrets_file(server_factory, tmp_path, key):
    secrets = tmp_path / "secrets"
    secrets.write_text("# comment line\n\n   %s   \n#%s\n\n" % (TOKEN_HASH.upper(),
                                                                sha256_hex(OTHER_TOKEN)))
    secrets.chmod(0o600)
    srv = server_factory(["--set", "auth.required=true", "--set", "%s=%s" % (key, secrets)])
    with srv.connect() as c:
        rc.assert_error(c.request("INFO"), "UNAUTHORIZED", UNAUTHORIZED_MSG)
        rc.assert_error(c.auth(OTHER_TOKEN), "AUTH_FAILED", "authentication failed: invalid token")
        assert rc.assert_ok(c.auth(TOKEN)) == {"authenticated": True}


def _config_error_lines(res):
    return [l for l in res.stderr.decode("utf-8", "replace").splitlines() if l.strip()]


def test_refuses_to_start_when_auth_required_without_hashes(tmp_path):
    res = run_rstmdbd(["--bind", "127.0.0.1:0", "--data-dir", tmp_path / "data",
                       "--set", "auth.required=true"])
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stdout, res.stderr)
    lines = _config_error_lines(res)
    assert any("auth.required" in l or "auth.token_hashes" in l for l in lines), lines


def test_refuses_to_start_when_auth_required_from_env_without_hashes(tmp_path):
    res = run_rstmdbd(["--bind", "127.0.0.1:0", "--data-dir", tmp_path / "data"],
                      env={"RSTMDB_AUTH_REQUIRED": "yes"})
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stdout, res.stderr)
    lines = _config_error_lines(res)
    assert any("auth.required" in l or "auth.token_hashes" in l for l in lines), lines


@pytest.mark.parametrize("bad_hash", ["abc", TOKEN_HASH[:-1], TOKEN_HASH + "0", "g" * 64])
def test_refuses_bad_token_hash(tmp_path, bad_hash):
    res = run_rstmdbd(["--bind", "127.0.0.1:0", "--data-dir", tmp_path / "data",
                       "--set", "auth.required=true", "--set", "auth.token_hashes=[%s]" % bad_hash])
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stdout, res.stderr)
    assert any("auth.token_hashes" in l for l in _config_error_lines(res)), res.stderr
