"""Unit tests of rcp_client against the byte vectors of protocol.md (no server needed)."""

import socket
import threading

import pytest

import rcp_client as rc

PING_REQ = b'{"type":"request","id":"1","op":"PING","params":{}}'
PING_RESP = b'{"type":"response","id":"1","status":"ok","result":{"pong":true}}'
PING_RCPX_FRAME = bytes.fromhex(
    "52 43 50 58 00 01 00 01 00 00 00 00 00 33 c3 20"
    "09 c4 7b 22 74 79 70 65 22 3a 22 72 65 71 75 65"
    "73 74 22 2c 22 69 64 22 3a 22 31 22 2c 22 6f 70"
    "22 3a 22 50 49 4e 47 22 2c 22 70 61 72 61 6d 73"
    "22 3a 7b 7d 7d".replace(" ", ""))
PING_RESP_RCPX_HEADER = bytes.fromhex("52 43 50 58 00 01 00 01 00 00 00 00 00 41 4b 7b 43 2f")
PING_RCP1_HEADER = bytes.fromhex("52 43 50 31 00 00 00 00 00 00 00 33 c3 20 09 c4")
PING_RESP_RCP1_HEADER = bytes.fromhex("52 43 50 31 00 01 00 00 00 00 00 41 4b 7b 43 2f")


def test_crc32c_vectors():
    assert rc.crc32c(b"123456789") == 0xE3069283
    assert rc.crc32c(b"") == 0
    assert len(PING_REQ) == 51
    assert rc.crc32c(PING_REQ) == 0xC32009C4
    assert rc.crc32c(b'{"type":"request","id":"1","op":"PING"}') == 0x15F193B1
    assert len(PING_RESP) == 65
    assert rc.crc32c(PING_RESP) == 0x4B7B432F


def test_crc32c_incremental():
    assert rc.crc32c(b"56789", rc.crc32c(b"1234")) == 0xE3069283


def test_dumps_matches_spec_payload():
    assert rc.dumps(rc.make_request("PING", {}, id="1")) == PING_REQ


def test_encode_rcpx_ping_example():
    frame = rc.encode_rcpx(PING_REQ)
    assert len(frame) == 69
    assert frame == PING_RCPX_FRAME


def test_encode_rcpx_overrides():
    f = rc.encode_rcpx(b"{}", flags=0x0010, version=2, extension=b"abc", crc=0xDEADBEEF)
    assert f[:4] == b"RCPX"
    assert f[4:6] == b"\x00\x02"
    assert f[6:8] == b"\x00\x10"
    assert f[8:10] == b"\x00\x03"
    assert f[10:14] == b"\x00\x00\x00\x02"
    assert f[14:18] == b"\xde\xad\xbe\xef"
    assert f[18:] == b"abc{}"
    assert rc.encode_rcpx(b"", payload_len=16777217)[10:14] == b"\x01\x00\x00\x01"


def test_encode_rcp1_ping_example():
    assert rc.encode_rcp1(PING_REQ) == PING_RCP1_HEADER + PING_REQ


def test_encode_jsonl():
    assert rc.encode_jsonl(PING_REQ) == PING_REQ + b"\n"
    assert rc.encode(rc.make_request("PING", {}, id="1"), "jsonl") == PING_REQ + b"\n"


def test_check_compact_json():
    rc.check_compact_json(PING_RESP)
    rc.check_compact_json(b'{"a":"x y\\n"}')
    with pytest.raises(rc.ProtocolError):
        rc.check_compact_json(b'{"a": 1}')
    with pytest.raises(rc.ProtocolError):
        rc.check_compact_json(b'{"a":"x\ny"}')


def test_validate_response():
    rc.validate_response({"type": "response", "id": "1", "status": "ok", "result": {}})
    rc.validate_response({"type": "response", "id": "", "status": "error",
                          "error": {"code": "WAL_IO_ERROR", "message": "x", "retryable": True}})
    bad = [
        {"type": "response", "id": 1, "status": "ok", "result": {}},
        {"type": "response", "id": None, "status": "ok", "result": {}},
        {"type": "response", "id": "1", "status": "ok", "result": []},
        {"type": "response", "id": "1", "status": "ok"},
        {"type": "response", "id": "1", "status": "fine", "result": {}},
        {"type": "response", "id": "1", "status": "ok", "result": {}, "meta": {}},
        {"type": "response", "id": "1", "status": "error",
         "error": {"code": "NOPE", "message": "x", "retryable": False}},
        {"type": "response", "id": "1", "status": "error",
         "error": {"code": "BAD_REQUEST", "message": "x", "retryable": True}},
        {"type": "response", "id": "1", "status": "error",
         "error": {"code": "BAD_REQUEST", "message": "x", "retryable": False, "details": {}}},
        {"type": "response", "id": "1", "status": "error",
         "error": {"code": "BAD_REQUEST", "message": "x", "retryable": False, "details": None}},
        {"type": "response", "id": "1", "status": "error",
         "error": {"code": "BAD_REQUEST", "message": "x", "retryable": False,
                   "details": {"a": 1.5}}},
        {"type": "event", "id": "1", "status": "ok", "result": {}},
    ]
    for msg in bad:
        with pytest.raises(rc.ProtocolError):
            rc.validate_response(msg)


class FakeServer:
    """A one-shot TCP peer that writes canned bytes, to exercise Connection.recv*."""

    def __init__(self, to_send, close=True):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._run, args=(to_send, close), daemon=True)
        self.thread.start()

    def _run(self, to_send, close):
        s, _ = self.listener.accept()
        s.settimeout(5)
        s.sendall(to_send)
        if close:
            s.shutdown(socket.SHUT_WR)
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        break
                    self.received += d
            except OSError:
                pass
            s.close()
        else:
            self.sock = s
        self.listener.close()


def test_connection_recv_all_framings():
    data = (PING_RESP_RCPX_HEADER + PING_RESP + PING_RESP_RCP1_HEADER + PING_RESP
            + PING_RESP + b"\n")
    srv = FakeServer(data)
    with rc.Connection("127.0.0.1", srv.port, timeout=5) as c:
        m1 = c.recv("rcpx")
        assert m1 == {"type": "response", "id": "1", "status": "ok", "result": {"pong": True}}
        assert m1.raw == PING_RESP_RCPX_HEADER + PING_RESP
        m2 = c.recv("rcp1")
        assert m2.raw == PING_RESP_RCP1_HEADER + PING_RESP
        m3 = c.recv("jsonl")
        assert m3.raw == PING_RESP + b"\n"
        assert c.expect_closed(2) >= 0


@pytest.mark.parametrize("data", [
    # bad CRC
    PING_RESP_RCPX_HEADER[:14] + b"\x00\x00\x00\x00" + PING_RESP,
    # flags 0 instead of CRC_PRESENT
    PING_RESP_RCPX_HEADER[:6] + b"\x00\x00" + PING_RESP_RCPX_HEADER[8:] + PING_RESP,
    # header_len 1
    PING_RESP_RCPX_HEADER[:8] + b"\x00\x01" + PING_RESP_RCPX_HEADER[10:] + b"x" + PING_RESP,
    # version 2
    PING_RESP_RCPX_HEADER[:4] + b"\x00\x02" + PING_RESP_RCPX_HEADER[6:] + PING_RESP,
])
def test_connection_rejects_bad_rcpx_header(data):
    srv = FakeServer(data)
    with rc.Connection("127.0.0.1", srv.port, timeout=5) as c:
        with pytest.raises(rc.ProtocolError):
            c.recv("rcpx")


def test_connection_rejects_rcp1_flags_word_zero():
    srv = FakeServer(PING_RCP1_HEADER[:12] + bytes.fromhex("4b7b432f") + PING_RESP)
    with rc.Connection("127.0.0.1", srv.port, timeout=5) as c:
        with pytest.raises(rc.ProtocolError):
            c.recv("rcp1")


def test_connection_rejects_wrong_framing_and_loose_jsonl():
    srv = FakeServer(PING_RESP + b"\n")
    with rc.Connection("127.0.0.1", srv.port, timeout=5) as c:
        with pytest.raises(rc.ProtocolError):
            c.recv("rcpx")
    srv = FakeServer(b'{"type": "response"}\n')
    with rc.Connection("127.0.0.1", srv.port, timeout=5) as c:
        with pytest.raises(rc.ProtocolError):
            c.recv("jsonl")
    srv = FakeServer(PING_RESP + b"\r\n")
    with rc.Connection("127.0.0.1", srv.port, timeout=5) as c:
        with pytest.raises(rc.ProtocolError):
            c.recv("jsonl")


def test_connection_recv_times_out():
    srv = FakeServer(b"", close=False)
    with rc.Connection("127.0.0.1", srv.port, timeout=0.3) as c:
        with pytest.raises(socket.timeout):
            c.recv("rcpx")
        with pytest.raises(rc.ProtocolError):
            c.expect_closed(0.3)


def test_expect_closed_fails_on_data():
    srv = FakeServer(b"x")
    with rc.Connection("127.0.0.1", srv.port, timeout=2) as c:
        with pytest.raises(rc.ProtocolError):
            c.expect_closed(2)


def test_recv_reports_eof_as_closed():
    srv = FakeServer(PING_RESP_RCPX_HEADER + PING_RESP[:10])
    with rc.Connection("127.0.0.1", srv.port, timeout=2) as c:
        with pytest.raises(rc.ConnectionClosed):
            c.recv("rcpx")
