"""Framing: the spec's byte-exact PING example, connection-kind detection and per-message
framing (protocol.md §3)."""

import time

import pytest

import rcp_client as rc

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

PING_REQ = b'{"type":"request","id":"1","op":"PING","params":{}}'
PING_RESP = b'{"type":"response","id":"1","status":"ok","result":{"pong":true}}'
PING_RCPX_FRAME = bytes.fromhex(
    "52 43 50 58 00 01 00 01 00 00 00 00 00 33 c3 20"
    "09 c4 7b 22 74 79 70 65 22 3a 22 72 65 71 75 65"
    "73 74 22 2c 22 69 64 22 3a 22 31 22 2c 22 6f 70"
    "22 3a 22 50 49 4e 47 22 2c 22 70 61 72 61 6d 73"
    "22 3a 7b 7d 7d")
PING_RESP_RCPX_HEADER = bytes.fromhex("52 43 50 58 00 01 00 01 00 00 00 00 00 41 4b 7b 43 2f")
PING_RCP1_FRAME = bytes.fromhex("52 43 50 31 00 00 00 00 00 00 00 33 c3 20 09 c4") + PING_REQ
PING_RESP_RCP1_HEADER = bytes.fromhex("52 43 50 31 00 01 00 00 00 00 00 41 4b 7b 43 2f")


def ping_payload(id):
    return rc.dumps(rc.make_request("PING", {}, id=id))


def expect_pong(c, framing, id):
    msg = c.recv(framing)
    assert rc.assert_ok(msg, id=id) == {"pong": True}, msg
    return msg


# ---- §3.6 worked example, byte for byte -------------------------------------------------

def test_ping_example_rcpx_byte_exact(conn):
    assert len(PING_RCPX_FRAME) == 69
    conn.send_raw(PING_RCPX_FRAME)
    framing, raw, payload = conn.recv_raw("rcpx")
    assert raw[:18] == PING_RESP_RCPX_HEADER, raw[:18].hex(" ")
    assert payload == PING_RESP
    assert raw == PING_RESP_RCPX_HEADER + PING_RESP


def test_ping_example_rcp1_byte_exact(server):
    with server.connect("rcp1") as c:
        c.send_raw(PING_RCP1_FRAME)
        framing, raw, payload = c.recv_raw("rcp1")
        assert raw[:16] == PING_RESP_RCP1_HEADER, raw[:16].hex(" ")
        assert raw == PING_RESP_RCP1_HEADER + PING_RESP


def test_ping_example_jsonl_byte_exact(server):
    with server.connect("jsonl") as c:
        c.send_raw(PING_REQ + b"\n")
        framing, raw, payload = c.recv_raw("jsonl")
        assert raw == PING_RESP + b"\n"


def test_ping_without_params_byte_exact(conn):
    req = b'{"type":"request","id":"1","op":"PING"}'
    assert rc.crc32c(req) == 0x15F193B1
    conn.send_raw(rc.encode_rcpx(req))
    assert conn.recv_raw("rcpx")[1] == PING_RESP_RCPX_HEADER + PING_RESP


# ---- §3.1 detection ---------------------------------------------------------------------

@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_leading_whitespace_is_skipped(server, framing):
    with server.connect(framing) as c:
        c.send_raw(b" \t\r\n  \n" + rc.encode(ping_payload("ws"), framing))
        expect_pong(c, framing, "ws")


@pytest.mark.parametrize("framing", ["rcpx", "rcp1"])
def test_detection_waits_for_four_bytes(server, framing):
    frame = rc.encode(ping_payload("slow"), framing)
    with server.connect(framing) as c:
        for i in range(4):  # "R", "C", "P", "X"/"1" one at a time
            c.send_raw(frame[i:i + 1])
            time.sleep(0.1)
            assert not c.is_closed_now(), "server closed after %r" % frame[:i + 1]
        c.send_raw(frame[4:])
        expect_pong(c, framing, "slow")


def test_frame_split_byte_by_byte(conn):
    frame = rc.encode_rcpx(ping_payload("drip"))
    for i in range(len(frame)):
        conn.send_raw(frame[i:i + 1])
        if i % 8 == 0:
            time.sleep(0.005)
    expect_pong(conn, "rcpx", "drip")


def test_jsonl_line_split_across_writes(server):
    with server.connect("jsonl") as c:
        line = rc.encode_jsonl(ping_payload("split"))
        c.send_raw(line[:10])
        time.sleep(0.1)
        c.send_raw(line[10:-1])
        assert not c.has_pending_data(0.2), "server answered a line before its LF"
        c.send_raw(line[-1:])
        expect_pong(c, "jsonl", "split")


# ---- §3.5 per-message framing -----------------------------------------------------------

@pytest.mark.parametrize("first", ["rcpx", "jsonl"])
def test_binary_and_jsonl_connections_mix_framings(server, first):
    """On binary and jsonl connections each message is read by its first byte, and every
    response goes back in the framing of its request."""
    seq = [first, "jsonl", "rcpx", "rcpx", "jsonl", "jsonl", "rcpx"]
    with server.connect(first) as c:
        for i, f in enumerate(seq):
            c.send(rc.make_request("PING", {}, id="m%d" % i), framing=f)
            expect_pong(c, f, "m%d" % i)
        # and all of them pipelined in one write
        data = b"".join(rc.encode(ping_payload("p%d" % i), f) for i, f in enumerate(seq))
        c.send_raw(data)
        for i, f in enumerate(seq):
            expect_pong(c, f, "p%d" % i)


def test_whitespace_between_messages_is_skipped(server):
    with server.connect("rcpx") as c:
        c.send_raw(rc.encode_rcpx(ping_payload("a")) + b"\r\n\t  \n"
                   + rc.encode_jsonl(ping_payload("b")) + b"\n\n\r\n   "
                   + rc.encode_rcpx(ping_payload("c")))
        expect_pong(c, "rcpx", "a")
        expect_pong(c, "jsonl", "b")
        expect_pong(c, "rcpx", "c")


def test_rcp1_whitespace_between_frames_is_skipped(server):
    with server.connect("rcp1") as c:
        c.send_raw(rc.encode_rcp1(ping_payload("a")) + b"\r\n "
                   + rc.encode_rcp1(ping_payload("b")))
        expect_pong(c, "rcp1", "a")
        expect_pong(c, "rcp1", "b")


def test_jsonl_crlf_and_blank_lines(server):
    with server.connect("jsonl") as c:
        c.send_raw(ping_payload("crlf") + b"\r\n\r\n\n" + ping_payload("lf") + b"\n")
        expect_pong(c, "jsonl", "crlf")
        expect_pong(c, "jsonl", "lf")


def test_jsonl_request_with_insignificant_whitespace(server):
    """Incoming JSON may be pretty; outgoing JSONL is compact (checked by the client)."""
    with server.connect("jsonl") as c:
        c.send_raw(b'{ "type" : "request" ,\t"id" : "sp" , "op" : "PING" , "params" : { } }\n')
        msg = expect_pong(c, "jsonl", "sp")
        assert msg.raw == b'{"type":"response","id":"sp","status":"ok","result":{"pong":true}}\n'


def test_frame_payload_with_surrounding_whitespace(conn):
    conn.send_raw(rc.encode_rcpx(b'  \n{"id":"ws","op":"PING"}\r\n  '))
    expect_pong(conn, "rcpx", "ws")


@pytest.mark.parametrize("flags_word", [0, 0x00010000, 0xFFFFFFFF, 0x12345678])
def test_rcp1_flags_word_ignored(server, flags_word):
    with server.connect("rcp1") as c:
        c.send_raw(rc.encode_rcp1(ping_payload("f"), flags_word=flags_word))
        expect_pong(c, "rcp1", "f")


# ---- §3.2 header fields that are accepted -----------------------------------------------

@pytest.mark.parametrize("ext_len", [1, 7, 300, 65535])
def test_rcpx_header_extension_is_skipped(conn, ext_len):
    ext = bytes((i * 7 + 1) & 0xFF for i in range(ext_len))  # includes 'R', '{', '\n' bytes
    conn.send_raw(rc.encode_rcpx(ping_payload("ext"), extension=ext))
    expect_pong(conn, "rcpx", "ext")
    conn.ping()


@pytest.mark.parametrize("flags", [0x0001, 0x0003, 0x0005, 0x0009, 0x000F])
def test_rcpx_ignored_flags_with_crc(conn, flags):
    conn.send_raw(rc.encode_rcpx(ping_payload("fl"), flags=flags))
    expect_pong(conn, "rcpx", "fl")


@pytest.mark.parametrize("flags", [0x0000, 0x0002, 0x0004, 0x0008, 0x000E])
def test_rcpx_crc_not_checked_when_flag_clear(conn, flags):
    conn.send_raw(rc.encode_rcpx(ping_payload("nocrc"), flags=flags, crc=0xDEADBEEF))
    expect_pong(conn, "rcpx", "nocrc")
    conn.send_raw(rc.encode_rcpx(ping_payload("zero"), flags=flags, crc=0))
    expect_pong(conn, "rcpx", "zero")


def test_rcpx_extension_not_covered_by_crc(conn):
    payload = ping_payload("x")
    frame = rc.encode_rcpx(payload, extension=b"EXTENSION", crc=rc.crc32c(payload))
    conn.send_raw(frame)
    expect_pong(conn, "rcpx", "x")


def test_compressed_flag_payload_still_parsed_as_json(conn):
    conn.send_raw(rc.encode_rcpx(ping_payload("cz"), flags=rc.FLAG_CRC_PRESENT | rc.FLAG_COMPRESSED))
    expect_pong(conn, "rcpx", "cz")


def test_jsonl_connection_accepts_rcpx_frames_with_extension(server):
    with server.connect("jsonl") as c:
        c.send_raw(rc.encode_jsonl(ping_payload("j")) + rc.encode_rcpx(ping_payload("r"), extension=b"\n{"))
        expect_pong(c, "jsonl", "j")
        expect_pong(c, "rcpx", "r")
