"""Session operations: HELLO, PING, BYE, INFO (protocol.md §10, §12-§14), the op table
and unknown ops."""

import pytest

import rcp_client as rc

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

HELLO_KEYS = ["protocol_version", "wire_mode", "server_name", "server_version", "features"]
INFO_KEYS = ["server_name", "server_version", "implementation", "protocol_version", "features",
             "max_frame_bytes", "max_payload_bytes", "max_batch_ops", "auth_required"]


def hello_result(c, framing=None, **params):
    msg = c.request("HELLO", params, framing=framing)
    return rc.assert_ok(msg)


def check_hello_result(result, wire_mode, features=()):
    assert list(result.keys()) == HELLO_KEYS, result
    assert type(result["protocol_version"]) is int and result["protocol_version"] == 1, result
    assert result["wire_mode"] == wire_mode, result
    assert result["server_name"] == "rstmdb", result
    assert isinstance(result["server_version"], str) and result["server_version"], result
    assert result["features"] == list(features), result


# ======================================================================================
# HELLO: wire-mode selection

# (params without protocol_version, expected on a frame connection, on a '{' connection)
WIRE_MODE_CASES = [
    ({}, "binary_json", "jsonl"),
    ({"wire_modes": ["binary_json"]}, "binary_json", "binary_json"),
    ({"wire_modes": ["jsonl"]}, "jsonl", "jsonl"),
    ({"wire_modes": ["jsonl", "binary_json"]}, "jsonl", "jsonl"),
    ({"wire_modes": ["binary_json", "jsonl"]}, "binary_json", "binary_json"),
    ({"wire_modes": ["msgpack", "jsonl"]}, "jsonl", "jsonl"),
    ({"wire_modes": ["JSONL", "binary_json"]}, "binary_json", "binary_json"),
    ({"wire_modes": ["msgpack"]}, "binary_json", "jsonl"),
    ({"wire_modes": []}, "binary_json", "jsonl"),
    ({"wire_mode": "jsonl"}, "jsonl", "jsonl"),
    ({"wire_mode": "binary_json"}, "binary_json", "binary_json"),
    ({"wire_mode": "msgpack"}, "binary_json", "jsonl"),
    ({"wire_modes": None, "wire_mode": "jsonl"}, "jsonl", "jsonl"),
    ({"wire_modes": None, "wire_mode": "binary_json"}, "binary_json", "binary_json"),
    ({"wire_modes": None}, "binary_json", "jsonl"),
    # wire_mode is used only when wire_modes is absent or null
    ({"wire_modes": ["binary_json"], "wire_mode": "jsonl"}, "binary_json", "binary_json"),
    ({"wire_modes": ["jsonl"], "wire_mode": "binary_json"}, "jsonl", "jsonl"),
    ({"wire_modes": ["msgpack"], "wire_mode": "jsonl"}, "binary_json", "jsonl"),
    ({"wire_modes": [], "wire_mode": "jsonl"}, "binary_json", "jsonl"),
    ({"wire_modes": [], "wire_mode": "binary_json"}, "binary_json", "jsonl"),
]


@pytest.mark.parametrize("params,on_frame,on_jsonl", WIRE_MODE_CASES)
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_hello_wire_mode_selection(server, params, on_frame, on_jsonl, framing):
    expected = {"rcpx": on_frame, "rcp1": "binary_json", "jsonl": on_jsonl}[framing]
    with server.connect(framing) as c:
        result = hello_result(c, protocol_version=1, **params)
        check_hello_result(result, expected)
        c.ping()


def test_hello_on_jsonl_connection_sent_as_frame(server):
    """A '{' connection keeps its jsonl default even when HELLO itself arrives as a frame."""
    with server.connect("jsonl") as c:
        c.ping()
        result = hello_result(c, framing="rcpx", protocol_version=1, wire_modes=["msgpack"])
        check_hello_result(result, "jsonl")


def test_hello_on_frame_connection_sent_as_jsonl(server):
    with server.connect("rcpx") as c:
        c.ping()
        result = hello_result(c, framing="jsonl", protocol_version=1)
        check_hello_result(result, "binary_json")


def test_hello_response_uses_request_framing_even_when_switching(server):
    with server.connect("rcpx") as c:
        msg = c.request("HELLO", {"protocol_version": 1, "wire_modes": ["jsonl"]}, framing="rcpx")
        assert msg.framing == "rcpx"
        check_hello_result(rc.assert_ok(msg), "jsonl")
        # responses keep following the request framing after the switch
        assert c.request("PING", framing="rcpx").framing == "rcpx"
        assert c.request("PING", framing="jsonl").framing == "jsonl"
        # switch back
        msg = c.request("HELLO", {"protocol_version": 1, "wire_modes": ["binary_json"]},
                        framing="jsonl")
        assert msg.framing == "jsonl"
        check_hello_result(rc.assert_ok(msg), "binary_json")


def test_hello_is_optional_and_repeatable(server):
    with server.connect() as c:
        assert rc.assert_ok(c.request("INFO"))["server_name"] == "rstmdb"
        for _ in range(3):
            check_hello_result(hello_result(c, protocol_version=1, features=["batch"]),
                               "binary_json", ["batch"])
        c.ping()


# ---- features -------------------------------------------------------------------------

@pytest.mark.parametrize("features,expected", [
    ([], []),
    (["idempotency", "batch"], ["idempotency", "batch"]),
    (["jsonl", "wal_read", "watch", "batch", "idempotency"],
     ["idempotency", "batch", "watch", "wal_read", "jsonl"]),
    (["jsonl", "bogus", "batch", "Batch", "compression"], ["batch", "jsonl"]),
    (["batch", "batch", "watch", "batch"], ["batch", "watch"]),
    (["watch"], ["watch"]),
    (["unknown"], []),
])
def test_hello_features_intersection_in_server_order(server, features, expected):
    with server.connect() as c:
        check_hello_result(hello_result(c, protocol_version=1, features=features),
                           "binary_json", expected)


def test_hello_features_default_empty(server):
    with server.connect() as c:
        check_hello_result(hello_result(c, protocol_version=1), "binary_json", [])


def test_hello_extra_params_accepted(server):
    """client_name may be null; client_version may be anything (docs minimal client)."""
    with server.connect("rcp1") as c:
        for extra in [{"client_name": None}, {"client_version": "0.1.0"},
                      {"client_version": [1, {"x": None}]}, {"client_name": "py", "other": 1}]:
            params = {"protocol_version": 1}
            params.update(extra)
            check_hello_result(hello_result(c, **params), "binary_json")


def test_hello_docs_minimal_client(server):
    """What the docs minimal client sends over RCP1 (no params key in other requests)."""
    with server.connect("rcp1") as c:
        msg = c.request("HELLO", {"protocol_version": 1, "client_name": "minimal",
                                  "client_version": "0.1", "wire_modes": ["jsonl"]})
        check_hello_result(rc.assert_ok(msg), "binary_json")
        c.send_raw(rc.encode_rcp1(b'{"type":"request","id":"2","op":"PING"}'))
        assert rc.assert_ok(c.recv("rcp1"), id="2") == {"pong": True}


# ---- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_hello_missing_protocol_version(server, framing):
    with server.connect(framing) as c:
        for params in [{}, {"wire_modes": ["binary_json"]}, None]:
            msg = c.request("HELLO", params, framing=framing)
            rc.assert_error(msg, "BAD_REQUEST",
                            "invalid request: missing field 'protocol_version'")
        c.ping()


@pytest.mark.parametrize("value", ["1", True, [1], {"v": 1}, 1.5])
def test_hello_protocol_version_wrong_type(server, value):
    with server.connect() as c:
        msg = c.request("HELLO", {"protocol_version": value})
        err = rc.assert_error(msg, "BAD_REQUEST", message_contains="protocol_version")
        assert "invalid type for field 'protocol_version': expected integer" in err["message"] \
            or err["message"] == "invalid request: missing field 'protocol_version'", msg
        c.ping()


@pytest.mark.parametrize("version", [0, 2, 3, 100, -1])
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_hello_unsupported_protocol(server, version, framing):
    with server.connect(framing) as c:
        msg = c.request("HELLO", {"protocol_version": version, "wire_modes": ["binary_json"]},
                        framing=framing)
        err = rc.assert_error(msg, "UNSUPPORTED_PROTOCOL",
                              "unsupported protocol version: %d (supported: 1)" % version)
        assert err["retryable"] is False
        assert err["details"] == {"requested": version, "supported": 1}, msg
        c.ping()
        # the failed HELLO changed nothing; a good one still works
        check_hello_result(hello_result(c, framing=framing, protocol_version=1),
                           "jsonl" if framing == "jsonl" else "binary_json")


@pytest.mark.parametrize("field,value", [
    ("wire_modes", "jsonl"),
    ("wire_modes", [1]),
    ("wire_modes", ["jsonl", None]),
    ("wire_modes", {"jsonl": True}),
    ("wire_modes", 5),
    ("features", "batch"),
    ("features", [1, 2]),
    ("features", ["batch", ["watch"]]),
    ("features", {"batch": True}),
    ("features", True),
    ("wire_mode", 5),
    ("wire_mode", ["jsonl"]),
    ("wire_mode", True),
])
def test_hello_bad_field_types(server, field, value):
    with server.connect() as c:
        msg = c.request("HELLO", {"protocol_version": 1, field: value})
        err = rc.assert_error(msg, "BAD_REQUEST", message_contains=field)
        if "details" in err:
            assert err["details"].get("field") == field, msg
        c.ping()


def test_failed_hello_keeps_connection_open_and_mode(server):
    with server.connect("jsonl") as c:
        rc.assert_error(c.request("HELLO", {"protocol_version": 2, "wire_modes": ["binary_json"]}),
                        "UNSUPPORTED_PROTOCOL")
        rc.assert_error(c.request("HELLO", {"protocol_version": 1, "wire_modes": "x"}),
                        "BAD_REQUEST")
        c.ping()


# ======================================================================================
# PING

@pytest.mark.parametrize("params", [None, {}, {"a": 1}, {"pong": False, "x": [1, 2, {"y": None}]}])
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_ping_ignores_params(server, params, framing):
    with server.connect(framing) as c:
        msg = c.request("PING", params, framing=framing)
        assert rc.assert_ok(msg) == {"pong": True}


def test_ping_params_null(conn):
    conn.send_raw(rc.encode_rcpx(b'{"type":"request","id":"n","op":"PING","params":null}'))
    assert rc.assert_ok(conn.recv(), id="n") == {"pong": True}


# ======================================================================================
# BYE

@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_bye_then_close(server, framing):
    with server.connect(framing) as c:
        c.ping()
        msg = c.request("BYE", framing=framing)
        assert rc.assert_ok(msg) == {"goodbye": True}
        assert msg.framing == framing
        c.expect_closed(5)


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_requests_pipelined_after_bye_are_discarded(server, framing):
    with server.connect(framing) as c:
        data = (rc.encode(rc.make_request("PING", {}, id="before"), framing)
                + rc.encode(rc.make_request("BYE", None, id="bye"), framing)
                + b"".join(rc.encode(rc.make_request("PING", {}, id="after%d" % i), framing)
                           for i in range(20))
                + rc.encode(rc.make_request("INFO", {}, id="info"), framing))
        c.send_raw(data)
        assert rc.assert_ok(c.recv(framing), id="before") == {"pong": True}
        assert rc.assert_ok(c.recv(framing), id="bye") == {"goodbye": True}
        c.expect_closed(5)


def test_bye_ignores_params_and_works_in_jsonl_after_switch(server):
    with server.connect() as c:
        check_hello_result(hello_result(c, protocol_version=1, wire_mode="jsonl"), "jsonl")
        msg = c.request("BYE", {"reason": "done"}, framing="rcpx")
        assert msg.framing == "rcpx"
        assert rc.assert_ok(msg) == {"goodbye": True}
        c.expect_closed(5)


def test_bye_pipelined_with_garbage_after_it(server):
    """Input after BYE is never parsed, so even malformed bytes produce nothing."""
    with server.connect() as c:
        c.send_raw(rc.encode_rcpx(rc.make_request("BYE", None, id="b")) + b"\x00garbage")
        assert rc.assert_ok(c.recv(), id="b") == {"goodbye": True}
        c.expect_closed(5)


# ======================================================================================
# INFO

def check_info(result, auth_required=False, frame_limit=16777216):
    assert list(result.keys()) == INFO_KEYS, result
    assert result["server_name"] == "rstmdb"
    assert isinstance(result["server_version"], str) and result["server_version"]
    assert result["implementation"] == "rstmdb-cpp"
    assert type(result["protocol_version"]) is int and result["protocol_version"] == 1
    assert result["features"] == rc.SERVER_FEATURES
    assert type(result["max_frame_bytes"]) is int and result["max_frame_bytes"] == frame_limit
    assert type(result["max_payload_bytes"]) is int and result["max_payload_bytes"] == frame_limit
    assert type(result["max_batch_ops"]) is int and result["max_batch_ops"] == 100
    assert result["auth_required"] is auth_required


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_info_result(server, framing):
    with server.connect(framing) as c:
        info = rc.assert_ok(c.request("INFO", framing=framing))
        check_info(info)
        hello = rc.assert_ok(c.request("HELLO", {"protocol_version": 1}, framing=framing))
        assert hello["server_version"] == info["server_version"]
        info2 = rc.assert_ok(c.request("INFO", {"ignored": 1}, framing=framing))
        assert info2 == info


# ======================================================================================
# Op table

@pytest.mark.parametrize("op", rc.DATA_OPS)
@pytest.mark.parametrize("with_params", [True, False])
def test_data_ops_answer_well_formed(server, op, with_params):
    """Every known data op answers with a valid envelope (ok, or an error with one of the
    16 codes) and keeps the connection open. Exact behaviour is tested elsewhere."""
    with server.connect() as c:
        msg = c.request(op, {} if with_params else None, skip_events=True)
        rc.validate_response(msg)
        if msg["status"] == "error":
            assert msg["error"]["message"] != "unknown operation: %s" % op, msg
            assert msg["error"]["code"] != "UNAUTHORIZED", msg
        c.ping()


def test_all_ops_pipelined_on_one_connection(server):
    with server.connect("jsonl") as c:
        ops = [op for op in rc.KNOWN_OPS if op != "BYE"]
        data = b"".join(rc.encode(rc.make_request(op, {}, id="op-" + op),
                                  "jsonl" if i % 2 else "rcpx")
                        for i, op in enumerate(ops))
        c.send_raw(data)
        for i, op in enumerate(ops):
            while True:
                msg = c.recv(any_framing=True)
                if msg.get("type") in ("event", "end"):
                    continue
                break
            rc.validate_response(msg)
            assert msg["id"] == "op-" + op, msg
            assert msg.framing == ("jsonl" if i % 2 else "rcpx"), (op, msg.framing)
        c.ping()


@pytest.mark.parametrize("op", ["FROB", "ping", "Ping", "HELLO2", "", "PING\u0000", "GET-MACHINE",
                                "put_machine", "INFO ", "ÉTAT"])
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_unknown_ops(server, op, framing):
    with server.connect(framing) as c:
        msg = c.request(op, {}, framing=framing)
        err = rc.assert_error(msg, "BAD_REQUEST", "unknown operation: %s" % op)
        assert err["retryable"] is False
        c.ping()


def test_example_session_unknown_op_exact_bytes(conn):
    conn.send_raw(rc.encode_rcpx(b'{"type":"request","id":"5","op":"FROB","params":{}}'))
    msg = conn.recv()
    assert msg.payload == (b'{"type":"response","id":"5","status":"error","error":{"code":'
                           b'"BAD_REQUEST","message":"unknown operation: FROB","retryable":false}}')


def test_example_session_handshake_exact_bytes(server):
    """The first messages of protocol.md §15, pipelined; HELLO/AUTH replies come first."""
    with server.connect() as c:
        c.send_raw(rc.encode_rcpx(
            b'{"type":"request","id":"1","op":"HELLO","params":{"protocol_version":1,'
            b'"client_name":"rstmdb-py","wire_modes":["binary_json"],'
            b'"features":["idempotency","batch"]}}')
            + rc.encode_rcpx(b'{"type":"request","id":"2","op":"AUTH","params":'
                             b'{"method":"bearer","token":"my-secret-token"}}')
            + rc.encode_rcpx(b'{"type":"request","id":"6","op":"BYE"}'))
        hello = c.recv()
        assert hello.payload.startswith(
            b'{"type":"response","id":"1","status":"ok","result":{"protocol_version":1,'
            b'"wire_mode":"binary_json","server_name":"rstmdb","server_version":"'), hello.payload
        assert hello.payload.endswith(b'","features":["idempotency","batch"]}}'), hello.payload
        assert c.recv().payload == (b'{"type":"response","id":"2","status":"ok",'
                                    b'"result":{"authenticated":true}}')
        assert c.recv().payload == (b'{"type":"response","id":"6","status":"ok",'
                                    b'"result":{"goodbye":true}}')
        c.expect_closed(5)
