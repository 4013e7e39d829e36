"""Malformed input (protocol.md §5): the rows that close the connection, the rows that
answer an error and stay open, and isolation between connections."""

import socket
import struct

import pytest

import rcp_client as rc

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

PING = rc.dumps(rc.make_request("PING", {}, id="1"))


def ping_payload(id):
    return rc.dumps(rc.make_request("PING", {}, id=id))


def rcpx_header(version=1, flags=1, header_len=0, payload_len=0, crc=0, magic=b"RCPX"):
    return magic + struct.pack(">HHHII", version, flags, header_len, payload_len, crc)


def established(server, framing):
    """A connection whose kind is fixed by one answered PING."""
    c = server.connect(framing)
    c.send(rc.make_request("PING", {}, id="est"), framing=framing)
    assert rc.assert_ok(c.recv(framing), id="est") == {"pong": True}
    return c


def send_ignoring_reset(c, data):
    try:
        c.send_raw(data, timeout=5)
    except (BrokenPipeError, ConnectionResetError):
        pass


# ======================================================================================
# Rows that close the connection. Nothing may be written before the close.

@pytest.mark.parametrize("data", [
    b"X",
    b"XXXX",
    b"\x00",
    b"\x00\x00\x00\x00\x00\x00\x00\x00",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # TLS ClientHello
    b"[1,2]\n",
    b'"str"\n',
    b"}\n",
    b"  \r\n\t x",
    b"RCPZ" + b"\x00" * 14,
    b"RCP2" + b"\x00" * 12,
    b"RXXX",
    b"rcpx" + b"\x00" * 14,
    b"\xef\xbb\xbf{\"id\":\"1\",\"op\":\"PING\"}\n",  # UTF-8 BOM is not whitespace
])
def test_bad_first_bytes_close(server, data):
    with server.connect() as c:
        send_ignoring_reset(c, data)
        c.expect_closed(5)


@pytest.mark.parametrize("framing", ["rcpx", "jsonl"])
@pytest.mark.parametrize("data", [b"X", b"\x00", b"[1]\n", b"5\n", b'"x"\n', b"}", b"\xff"])
def test_bad_message_start_byte_closes(server, framing, data):
    c = established(server, framing)
    with c:
        send_ignoring_reset(c, data)
        c.expect_closed(5)


@pytest.mark.parametrize("framing", ["rcpx", "jsonl"])
@pytest.mark.parametrize("magic", [b"RCP1", b"RCPY", b"RXPX", b"Rcpx", b"RCP\x00"])
def test_bad_magic_on_binary_or_jsonl_connection_closes(server, framing, magic):
    """Includes a complete, valid RCP1 frame on a non-legacy connection."""
    c = established(server, framing)
    with c:
        if magic == b"RCP1":
            data = rc.encode_rcp1(ping_payload("legacy"))
        else:
            data = rc.encode_rcpx(ping_payload("bad"))
            data = magic + data[4:]
        send_ignoring_reset(c, data)
        c.expect_closed(5)


@pytest.mark.parametrize("data", [
    rc.encode_rcpx(PING),                       # RCPX frame on a legacy connection
    rc.encode_jsonl(PING),                      # JSONL line on a legacy connection
    b"RCPX" + b"\x00" * 14,
    b"X",
])
def test_non_rcp1_message_on_legacy_connection_closes(server, data):
    c = established(server, "rcp1")
    with c:
        send_ignoring_reset(c, data)
        c.expect_closed(5)


@pytest.mark.parametrize("version", [0, 2, 0x0100, 0xFFFF])
@pytest.mark.parametrize("first", [True, False])
def test_rcpx_bad_version_closes_from_header(server, version, first):
    c = server.connect() if first else established(server, "rcpx")
    with c:
        # header only: the check must not wait for the payload
        send_ignoring_reset(c, rcpx_header(version=version, payload_len=len(PING),
                                           crc=rc.crc32c(PING)))
        c.expect_closed(5)


@pytest.mark.parametrize("flags", [0x0010, 0x0011, 0x0020, 0x0100, 0x8000, 0x8001, 0xFFF1, 0xFFFF])
@pytest.mark.parametrize("first", [True, False])
def test_rcpx_reserved_flags_close_from_header(server, flags, first):
    c = server.connect() if first else established(server, "rcpx")
    with c:
        send_ignoring_reset(c, rcpx_header(flags=flags, payload_len=len(PING),
                                           crc=rc.crc32c(PING)))
        c.expect_closed(5)


@pytest.mark.parametrize("flags", [0x0010, 0x8001])
def test_rcpx_reserved_flags_close_with_full_frame(server, flags):
    c = established(server, "rcpx")
    with c:
        send_ignoring_reset(c, rc.encode_rcpx(PING, flags=flags))
        c.expect_closed(5)


@pytest.mark.parametrize("payload_len", [16777217, 0x7FFFFFFF, 0xFFFFFFFF])
@pytest.mark.parametrize("framing", ["rcpx", "rcp1"])
def test_payload_len_over_limit_closes_from_header_alone(server, payload_len, framing):
    with server.connect(framing) as c:
        if framing == "rcpx":
            header = rcpx_header(payload_len=payload_len, crc=0)
        else:
            header = b"RCP1" + struct.pack(">III", 0, payload_len, 0)
        send_ignoring_reset(c, header)
        c.expect_closed(5)


def test_payload_len_over_limit_closes_after_earlier_requests(server):
    c = established(server, "rcpx")
    with c:
        send_ignoring_reset(c, rcpx_header(payload_len=16777217, flags=0))
        c.expect_closed(5)


def test_payload_len_at_limit_waits_for_payload(server):
    """A header announcing exactly 16 MiB is legal: the server waits for the payload."""
    with server.connect() as c:
        c.send_raw(rcpx_header(payload_len=16777216, flags=0))
        with pytest.raises(socket.timeout):
            c.recv("rcpx", timeout=0.7)
        assert not c.is_closed_now()


@pytest.mark.parametrize("first", [True, False])
def test_rcpx_crc_mismatch_closes(server, first):
    c = server.connect() if first else established(server, "rcpx")
    with c:
        good = rc.crc32c(PING)
        send_ignoring_reset(c, rc.encode_rcpx(PING, crc=good ^ 1))
        c.expect_closed(5)


@pytest.mark.parametrize("flags_word", [0, 0x00010000])
@pytest.mark.parametrize("first", [True, False])
def test_rcp1_crc_mismatch_closes(server, flags_word, first):
    c = server.connect("rcp1") if first else established(server, "rcp1")
    with c:
        send_ignoring_reset(c, rc.encode_rcp1(PING, flags_word=flags_word, crc=0))
        c.expect_closed(5)


def test_rcpx_crc_mismatch_on_jsonl_connection_closes(server):
    c = established(server, "jsonl")
    with c:
        send_ignoring_reset(c, rc.encode_rcpx(PING, crc=0x12345678))
        c.expect_closed(5)


@pytest.mark.parametrize("framing,cut", [
    ("rcpx", 3), ("rcpx", 10), ("rcpx", 18), ("rcpx", 30),
    ("rcp1", 2), ("rcp1", 16), ("rcp1", 20),
    ("jsonl", 1), ("jsonl", 20),
])
def test_eof_mid_message_closes_without_response(server, framing, cut):
    with server.connect(framing) as c:
        data = rc.encode(ping_payload("eof"), framing)
        assert cut < len(data) - 1
        c.send_raw(data[:cut])
        c.shutdown_write()
        c.expect_closed(5)


def test_eof_mid_extension_closes(server):
    with server.connect() as c:
        c.send_raw(rc.encode_rcpx(PING, extension=b"e" * 100)[:60])
        c.shutdown_write()
        c.expect_closed(5)


# ======================================================================================
# Rows that answer an error and keep the connection open.

BAD_UTF8 = "invalid request: payload is not valid UTF-8"
MALFORMED = "invalid request: malformed JSON: "
NOT_OBJECT = "invalid request: request must be a JSON object"
BAD_ID = "invalid request: missing or invalid field 'id'"
NO_OP = "invalid request: missing field 'op'"
BAD_PARAMS = "invalid request: params must be an object"

# (name, payload, framings or None for all, expected id, exact message or prefix)
STAYS_OPEN = [
    # not UTF-8
    ("utf8-ff", b'{"id":"1","op":"PING","x":"\xff"}', None, "", BAD_UTF8),
    ("utf8-overlong", b'{"id":"1","op":"PING","x":"\xc0\xaf"}', None, "", BAD_UTF8),
    ("utf8-surrogate", b'{"id":"1","op":"PING","x":"\xed\xa0\x80"}', None, "", BAD_UTF8),
    ("utf8-truncated", b'{"id":"1","op":"PING","x":"\xe2\x82"}', None, "", BAD_UTF8),
    ("utf8-in-id", b'{"id":"\xfe","op":"PING"}', None, "", BAD_UTF8),
    ("utf8-outside-string", b'{"id":"1","op":"PING"}\x80', ["rcpx", "rcp1"], "", BAD_UTF8),
    # malformed JSON
    ("unterminated", b'{"id":"1","op":"PING"', None, "", MALFORMED),
    ("trailing-comma", b'{"id":"1","op":"PING",}', None, "", MALFORMED),
    ("single-quotes", b"{'id':'1','op':'PING'}", None, "", MALFORMED),
    ("trailing-data", b'{"id":"1","op":"PING"} x', None, "", MALFORMED),
    ("two-objects", b'{"id":"1","op":"PING"}{"id":"2","op":"PING"}', None, "", MALFORMED),
    ("nan", b'{"id":"1","op":"PING","x":NaN}', None, "", MALFORMED),
    ("leading-zero", b'{"id":"1","op":"PING","x":01}', None, "", MALFORMED),
    ("raw-control-char", b'{"id":"1","op":"PING","x":"a\x01b"}', None, "", MALFORMED),
    ("bad-escape", b'{"id":"1","op":"PING","x":"\\q"}', None, "", MALFORMED),
    ("lone-high-surrogate", b'{"id":"1","op":"PING","x":"\\ud800"}', None, "", MALFORMED),
    ("lone-low-surrogate", b'{"id":"1","op":"PING","x":"\\udc00"}', None, "", MALFORMED),
    ("high-then-ascii", b'{"id":"1","op":"PING","x":"\\ud800\\u0041"}', None, "", MALFORMED),
    ("surrogate-in-id", b'{"id":"\\udfff","op":"PING"}', None, "", MALFORMED),
    ("nesting-129", rc.nested_request(129), None, "", MALFORMED),
    ("nesting-129-objects", b'{"id":"1","op":"PING","params":' + b'{"a":' * 128 + b"1"
     + b"}" * 128 + b"}", None, "", MALFORMED),
    ("nesting-10000", rc.nested_request(10000), None, "", MALFORMED),
    ("empty", b"", ["rcpx", "rcp1"], "", MALFORMED),
    ("only-whitespace", b"   ", ["rcpx", "rcp1"], "", MALFORMED),
    ("garbage", b"hello", ["rcpx", "rcp1"], "", MALFORMED),
    ("open-brace-only", b"{", None, "", MALFORMED),
    # valid JSON but not an object (a JSONL line cannot start with anything but '{')
    ("array", b'[{"id":"1","op":"PING"}]', ["rcpx", "rcp1"], "", NOT_OBJECT),
    ("string", b'"PING"', ["rcpx", "rcp1"], "", NOT_OBJECT),
    ("number", b"42", ["rcpx", "rcp1"], "", NOT_OBJECT),
    ("null", b"null", ["rcpx", "rcp1"], "", NOT_OBJECT),
    ("true", b"true", ["rcpx", "rcp1"], "", NOT_OBJECT),
    # id
    ("id-missing", b'{"type":"request","op":"PING","params":{}}', None, "", BAD_ID),
    ("id-null", b'{"id":null,"op":"PING"}', None, "", BAD_ID),
    ("id-true", b'{"id":true,"op":"PING"}', None, "", BAD_ID),
    ("id-false", b'{"id":false,"op":"PING"}', None, "", BAD_ID),
    ("id-array", b'{"id":["1"],"op":"PING"}', None, "", BAD_ID),
    ("id-object", b'{"id":{"v":"1"},"op":"PING"}', None, "", BAD_ID),
    ("id-before-op-check", b'{"op":42}', None, "", BAD_ID),
    ("empty-object", b"{}", None, "", BAD_ID),
    # op
    ("op-missing", b'{"id":"r1","params":{}}', None, "r1", NO_OP),
    ("op-number", b'{"id":"r2","op":42}', None, "r2", NO_OP),
    ("op-null", b'{"id":"r3","op":null}', None, "r3", NO_OP),
    ("op-array", b'{"id":"r4","op":["PING"]}', None, "r4", NO_OP),
    ("op-missing-numeric-id", b'{"id":9}', None, "9", NO_OP),
    # params
    ("params-array", b'{"id":"p1","op":"PING","params":[]}', None, "p1", BAD_PARAMS),
    ("params-number", b'{"id":"p2","op":"PING","params":1}', None, "p2", BAD_PARAMS),
    ("params-string", b'{"id":"p3","op":"PING","params":"x"}', None, "p3", BAD_PARAMS),
    ("params-bool", b'{"id":"p4","op":"INFO","params":true}', None, "p4", BAD_PARAMS),
    # unknown op (case-sensitive)
    ("unknown-FROB", b'{"id":"u1","op":"FROB","params":{}}', None, "u1", "unknown operation: FROB"),
    ("unknown-lower-ping", b'{"id":"u2","op":"ping"}', None, "u2", "unknown operation: ping"),
    ("unknown-Ping", b'{"id":"u3","op":"Ping"}', None, "u3", "unknown operation: Ping"),
    ("unknown-space", b'{"id":"u4","op":"PING "}', None, "u4", "unknown operation: PING "),
    ("unknown-info", b'{"id":"u5","op":"info"}', None, "u5", "unknown operation: info"),
]


def _framings(entry):
    return entry[2] or list(rc.FRAMINGS)


STAYS_OPEN_CASES = [pytest.param(e, f, id="%s-%s" % (e[0], f))
                    for e in STAYS_OPEN for f in _framings(e)]


@pytest.mark.parametrize("entry,framing", STAYS_OPEN_CASES)
def test_bad_request_stays_open(server, entry, framing):
    name, payload, _, exp_id, message = entry
    assert b"\n" not in payload or framing != "jsonl"
    with server.connect(framing) as c:
        c.send_raw(rc.encode(payload, framing))
        msg = c.recv(framing)
        if message.endswith(": ") and message.startswith("invalid request: malformed"):
            err = rc.assert_error(msg, "BAD_REQUEST", id=exp_id, message_prefix=message)
            assert len(err["message"]) > len(message), "malformed JSON needs a reason: %r" % msg
        else:
            rc.assert_error(msg, "BAD_REQUEST", message, id=exp_id)
        assert "result" not in msg
        # the same connection keeps working
        c.send(rc.make_request("PING", {}, id="after"), framing=framing)
        assert rc.assert_ok(c.recv(framing), id="after") == {"pong": True}


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_error_then_ping_pipelined_in_one_write(server, framing):
    """Errors take their message's slot in the response order."""
    with server.connect(framing) as c:
        c.send_raw(rc.encode(b'{"id":"a","op":"PING"}', framing)
                   + rc.encode(b'{"id":"b","op":"PING"', framing)
                   + rc.encode(b'{"id":"c","op":"FROB"}', framing)
                   + rc.encode(b'{"id":"d","op":"PING","params":[]}', framing)
                   + rc.encode(b'{"op":"PING"}', framing)
                   + rc.encode(b'{"id":"f","op":"PING"}', framing))
        rc.assert_ok(c.recv(framing), id="a")
        rc.assert_error(c.recv(framing), "BAD_REQUEST", id="", message_prefix=MALFORMED)
        rc.assert_error(c.recv(framing), "BAD_REQUEST", "unknown operation: FROB", id="c")
        rc.assert_error(c.recv(framing), "BAD_REQUEST", BAD_PARAMS, id="d")
        rc.assert_error(c.recv(framing), "BAD_REQUEST", BAD_ID, id="")
        rc.assert_ok(c.recv(framing), id="f")


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_nesting_128_is_accepted(server, framing):
    with server.connect(framing) as c:
        c.send_raw(rc.encode(rc.nested_request(128, id="deep"), framing))
        assert rc.assert_ok(c.recv(framing), id="deep") == {"pong": True}
        objs = b'{"id":"deep2","op":"PING","params":' + b'{"a":' * 127 + b"1" + b"}" * 127 + b"}"
        c.send_raw(rc.encode(objs, framing))
        assert rc.assert_ok(c.recv(framing), id="deep2") == {"pong": True}


@pytest.mark.parametrize("raw_id,expected", [
    (b"7", "7"),
    (b"0", "0"),
    (b"-3", "-3"),
    (b"1.5", "1.5"),
    (b"0.1", "0.1"),
    (b"-2.25", "-2.25"),
    (b"18446744073709551615", "18446744073709551615"),
    (b"-9223372036854775808", "-9223372036854775808"),
])
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_numeric_id_is_echoed_as_string(server, raw_id, expected, framing):
    with server.connect(framing) as c:
        c.send_raw(rc.encode(b'{"type":"request","id":' + raw_id + b',"op":"PING"}', framing))
        msg = c.recv(framing)
        assert rc.assert_ok(msg, id=expected) == {"pong": True}
        # and the id is a JSON string on the wire
        assert b'"id":"' + expected.encode() + b'"' in msg.payload, msg.payload


@pytest.mark.parametrize("id", ["", "a\"b\\c\n\t\x01", "é✓😀", "x" * 2000, "/slash/"])
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_string_ids_echoed_exactly(server, id, framing):
    with server.connect(framing) as c:
        c.send(rc.make_request("PING", {}, id=id), framing=framing)
        msg = c.recv(framing)
        assert rc.assert_ok(msg, id=id) == {"pong": True}


@pytest.mark.parametrize("payload", [
    b'{"id":"t1","op":"PING"}',
    b'{"type":"response","id":"t1","op":"PING"}',
    b'{"type":5,"id":"t1","op":"PING"}',
    b'{"type":null,"id":"t1","op":"PING","params":null}',
    b'{"id":"t1","op":"PING","params":{"ignored":[1,{"a":null}]},"extra":true,"meta":{}}',
    b'{"id":"zz","op":"FROB","op":"PING","id":"t1"}',  # duplicate keys: last wins
])
@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_tolerated_envelopes(server, payload, framing):
    with server.connect(framing) as c:
        c.send_raw(rc.encode(payload, framing))
        assert rc.assert_ok(c.recv(framing), id="t1") == {"pong": True}


# ======================================================================================
# Isolation: a client sending garbage never disturbs another client.

def test_garbage_clients_do_not_disturb_others(server):
    good = server.connect()
    good_jsonl = server.connect("jsonl")
    with good, good_jsonl:
        good.ping()
        good_jsonl.ping()
        bad_inputs = [b"XXXX", rcpx_header(version=9), rcpx_header(flags=0x8000),
                      rcpx_header(payload_len=0xFFFFFFFF), rc.encode_rcpx(PING, crc=1),
                      rc.encode_rcp1(PING, crc=2), b"GET / HTTP/1.0\r\n\r\n", b"\x00" * 64]
        bad = []
        for i in range(24):
            b = server.connect()
            send_ignoring_reset(b, bad_inputs[i % len(bad_inputs)])
            bad.append(b)
            if i % 4 == 0:
                good.ping()
                good_jsonl.ping()
        for b in bad:
            b.expect_closed(5)
            b.close()
        for _ in range(3):
            good.ping()
            good_jsonl.ping()
        # a connection that sends a bad request (stays open) does not affect the other either
        with server.connect() as other:
            other.send_raw(rc.encode_rcpx(b"{bad json"))
            rc.assert_error(other.recv(), "BAD_REQUEST", id="", message_prefix=MALFORMED)
            good.ping()
            other.ping()
        # and the server still accepts new connections
        with server.connect("rcp1") as c:
            c.ping()
