"""Payload limits (protocol.md §4): exactly the limit is accepted, one byte more closes."""

import struct

import pytest

import rcp_client as rc

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

LIMIT = 4096


@pytest.fixture(scope="module")
def small_server(module_server_factory):
    return module_server_factory(["--set", "network.max_frame_bytes=%d" % LIMIT])


def send_ignoring_reset(c, data):
    try:
        c.send_raw(data, timeout=5)
    except (BrokenPipeError, ConnectionResetError):
        pass


def test_info_reports_configured_limit(small_server):
    with small_server.connect() as c:
        result = rc.assert_ok(c.request("INFO"))
        assert result["max_frame_bytes"] == LIMIT, result
        assert result["max_payload_bytes"] == LIMIT, result


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_payload_of_exactly_the_limit_is_accepted(small_server, framing):
    with small_server.connect(framing) as c:
        c.send_raw(rc.encode(rc.padded_request(LIMIT, id="exact"), framing))
        assert rc.assert_ok(c.recv(framing), id="exact") == {"pong": True}
        c.ping()


@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_payload_of_limit_plus_one_closes(small_server, framing):
    with small_server.connect(framing) as c:
        c.ping()
        send_ignoring_reset(c, rc.encode(rc.padded_request(LIMIT + 1, id="over"), framing))
        c.expect_closed(5)


@pytest.mark.parametrize("framing", ["rcpx", "rcp1"])
def test_over_limit_header_alone_closes(small_server, framing):
    with small_server.connect(framing) as c:
        c.ping()
        if framing == "rcpx":
            header = b"RCPX" + struct.pack(">HHHII", 1, 1, 0, LIMIT + 1, 0)
        else:
            header = b"RCP1" + struct.pack(">III", 0, LIMIT + 1, 0)
        send_ignoring_reset(c, header)
        c.expect_closed(5)


def test_limit_counts_payload_not_extension(small_server):
    """The limit applies to payload_len; a large header extension is still skipped."""
    with small_server.connect() as c:
        c.send_raw(rc.encode_rcpx(rc.padded_request(LIMIT, id="ext"), extension=b"e" * 8000))
        assert rc.assert_ok(c.recv(), id="ext") == {"pong": True}


def test_jsonl_line_over_limit_without_newline_closes(small_server):
    """A line that is already longer than the limit closes without waiting for its LF."""
    with small_server.connect("jsonl") as c:
        c.ping()
        send_ignoring_reset(c, rc.padded_request(3 * LIMIT, id="long")[:-3])
        c.expect_closed(5)


def test_jsonl_exact_limit_line_mixed_with_frames(small_server):
    with small_server.connect("rcpx") as c:
        c.send_raw(rc.encode_rcpx(rc.padded_request(LIMIT, id="a"))
                   + rc.encode_jsonl(rc.padded_request(LIMIT, id="b"))
                   + rc.encode_rcpx(rc.padded_request(LIMIT, id="c")))
        rc.assert_ok(c.recv("rcpx"), id="a")
        rc.assert_ok(c.recv("jsonl"), id="b")
        rc.assert_ok(c.recv("rcpx"), id="c")


# ---- the default limit: 16 MiB ----------------------------------------------------------

BIG = 16 * 1024 * 1024


def test_default_limit_exact_16mib_rcpx_accepted(server):
    payload = rc.padded_request(BIG, id="big")
    with server.connect(timeout=30) as c:
        # CRC_PRESENT clear: the pure-Python CRC of 16 MiB would be slow
        c.send_raw(rc.encode_rcpx(payload, flags=0, crc=0), timeout=30)
        assert rc.assert_ok(c.recv("rcpx", timeout=30), id="big") == {"pong": True}
        c.ping()


def test_default_limit_exact_16mib_jsonl_accepted(server):
    payload = rc.padded_request(BIG, id="bigl")
    with server.connect("jsonl", timeout=30) as c:
        c.send_raw(payload + b"\n", timeout=30)
        assert rc.assert_ok(c.recv("jsonl", timeout=30), id="bigl") == {"pong": True}


def test_default_limit_jsonl_line_plus_one_closes(server):
    with server.connect("jsonl", timeout=30) as c:
        send_ignoring_reset(c, rc.padded_request(BIG + 1, id="over") + b"\n")
        c.expect_closed(10)
