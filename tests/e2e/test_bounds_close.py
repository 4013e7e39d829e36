"""Closing without cutting replies off (protocol.md §5, §9, §11, §13).

When the server closes a connection on its own initiative while the peer still has unread
input queued (BYE followed by more bytes, the AUTH failure limit, a protocol error after good
requests), a plain close() would answer the unread input with a TCP reset that also throws
away replies still in the server's send queue. The server instead writes every reply due,
half-closes, discards the peer's input for a bounded time, then closes: the client receives
every reply completely.

The client here reads through a small receive buffer and only starts reading after a pause,
so replies are still queued in the server when it decides to close.
"""

import threading
import time

import pytest

import rcp_client as rc

ID_PAD = 1000       # bytes of id per PING, so each reply is ~1 KB
PINGS = 300          # ~300 KB of replies: far more than the client's receive buffer
JUNK = b"\x00" * (2 * 1024 * 1024)
HASH_OF_SECRET = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"  # "secret"


def ping_ids():
    return ["%04d-" % i + "i" * ID_PAD for i in range(PINGS)]


def pipelined_pings(ids):
    return b"".join(rc.encode_jsonl(rc.make_request("PING", {}, id=i)) for i in ids)


def send_in_background(c, data):
    errors = []

    def run():
        try:
            c.send_raw(data, timeout=20)
        except (BrokenPipeError, ConnectionResetError) as e:
            errors.append(e)  # the server may close before taking all the junk: fine

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def read_until_closed(c, timeout=15.0):
    """Every complete message until the server closes; a reset after the last complete one
    is accepted (the data before it must all be there)."""
    msgs = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            msgs.append(c.recv("jsonl", timeout=max(0.1, deadline - time.monotonic())))
        except rc.ConnectionClosed:
            assert not c.buf, "connection ended inside a reply: %d bytes of a partial message" % len(c.buf)
            return msgs


def check_pings(msgs, ids):
    assert len(msgs) >= len(ids), "got %d of %d PING replies before the close" % (len(msgs), len(ids))
    for m, rid in zip(msgs, ids):
        assert rc.assert_ok(m, id=rid) == {"pong": True}


@pytest.fixture(scope="module")
def auth_server(module_server_factory):
    return module_server_factory(["--set", "auth.required=true",
                                  "--set", "auth.token_hashes=[%s]" % HASH_OF_SECRET,
                                  "--set", "auth.max_failures_per_connection=3"])


def test_bye_reply_arrives_whole_despite_unread_input(server):
    ids = ping_ids()
    c = server.connect("jsonl", timeout=20, rcvbuf=4096)
    with c:
        t = send_in_background(c, pipelined_pings(ids) + rc.encode_jsonl(rc.make_request("BYE", id="bye"))
                               + JUNK)
        time.sleep(0.5)
        msgs = read_until_closed(c)
        check_pings(msgs, ids)
        assert len(msgs) == PINGS + 1, len(msgs)
        assert rc.assert_ok(msgs[-1], id="bye") == {"goodbye": True}
        t.join(20)


def test_auth_failure_limit_reply_arrives_whole(auth_server):
    ids = ping_ids()
    bad = b"".join(rc.encode_jsonl(rc.make_request("AUTH", {"token": "wrong"}, id="a%d" % i))
                   for i in range(3))
    after = rc.encode_jsonl(rc.make_request("PING", {}, id="never"))
    c = auth_server.connect("jsonl", timeout=20, rcvbuf=4096)
    with c:
        t = send_in_background(c, pipelined_pings(ids) + bad + after + JUNK)
        time.sleep(0.5)
        msgs = read_until_closed(c)
        check_pings(msgs, ids)
        assert len(msgs) == PINGS + 3, [m.get("id") for m in msgs[PINGS:]]
        for i, m in enumerate(msgs[PINGS:]):
            rc.assert_error(m, "AUTH_FAILED", "authentication failed: invalid token", id="a%d" % i)
        t.join(20)


def test_protocol_error_after_good_requests_answers_them_then_closes(server):
    ids = ping_ids()
    c = server.connect("jsonl", timeout=20, rcvbuf=4096)
    with c:
        # 'X' cannot start a message (protocol.md §5): close, nothing written for it
        t = send_in_background(c, pipelined_pings(ids) + b"XXXX-not-a-frame" + JUNK)
        time.sleep(0.5)
        msgs = read_until_closed(c)
        check_pings(msgs, ids)
        assert len(msgs) == PINGS, len(msgs)
        t.join(20)


def test_close_after_bye_does_not_wait_for_a_reading_peer(server):
    """The drain ends as soon as the peer has everything: a BYE round trip stays fast."""
    with server.connect() as c:
        start = time.monotonic()
        rc.assert_ok(c.request("BYE"))
        c.expect_closed(5)
        assert time.monotonic() - start < 1.0
