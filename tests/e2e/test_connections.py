"""Connection limits and the idle timeout (protocol.md §2, §9.2; runtime.md §1.3)."""

import socket
import time

import pytest

import rcp_client as rc


def ping_frame(id):
    return rc.encode_rcpx(rc.make_request("PING", {}, id=id))


# ======================================================================================
# Idle timeout

@pytest.fixture(scope="module")
def idle_server(module_server_factory):
    return module_server_factory(["--set", "network.idle_timeout_secs=1"])


def wait_closed(c, limit):
    """Seconds until the server closes `c` (nothing written), failing after `limit`."""
    return c.expect_closed(limit)


def test_idle_connection_is_closed(idle_server):
    with idle_server.connect() as c:
        start = time.monotonic()
        elapsed = wait_closed(c, 5.0)
        total = time.monotonic() - start
        assert total >= 0.9, "closed after %.2f s, before the 1 s idle timeout" % total
        assert elapsed <= 5.0


def test_idle_timer_starts_after_last_message(idle_server):
    conns = [idle_server.connect(f) for f in rc.FRAMINGS]
    try:
        for c in conns:
            c.ping()
        time.sleep(0.5)
        for c in conns:
            c.ping()
        start = time.monotonic()
        for c in conns:
            c.expect_closed(5.0)
            total = time.monotonic() - start
            assert total >= 0.9, "%s connection closed %.2f s after its last request" % (
                c.framing, total)
    finally:
        for c in conns:
            c.close()


def test_active_connection_stays_open(idle_server):
    """Requests every 0.3 s keep a connection open for 2.5 s, while an idle one beside it
    is closed."""
    with idle_server.connect() as c, idle_server.connect("jsonl") as idle:
        idle.ping()
        end = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < end:
            c.ping()
            n += 1
            time.sleep(0.3)
        assert n >= 7
        c.ping()
        assert idle.is_closed_now(), "idle connection beside an active one was not closed"
        assert not idle.buf
        # and then, idle, the active one does get closed too
        c.expect_closed(5.0)


def test_partial_message_does_not_reset_idle_timer(idle_server):
    """Only complete messages restart the timer: a client dribbling one frame byte by byte
    is still closed."""
    with idle_server.connect() as c:
        c.ping()
        frame = rc.encode_rcpx(rc.padded_request(1000, id="slow"))
        start = time.monotonic()
        closed = False
        for i in range(len(frame) - 1):
            if c.is_closed_now():
                closed = True
                break
            if time.monotonic() - start > 6.0:
                break
            try:
                c.send_raw(frame[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.25)
        assert closed or c.is_closed_now(), "dribbling connection still open after %.1f s" % (
            time.monotonic() - start)
        assert not c.buf
        assert time.monotonic() - start >= 0.9


def test_idle_timeout_from_env(server_factory):
    srv = server_factory(env={"RSTMDB_IDLE_TIMEOUT": "1"})
    with srv.connect() as c:
        c.ping()
        start = time.monotonic()
        wait_closed(c, 5.0)
        assert time.monotonic() - start >= 0.9


def test_idle_timeout_zero_disables(server_factory):
    srv = server_factory(["--set", "network.idle_timeout_secs=0"])
    with srv.connect() as quiet, srv.connect("jsonl") as quiet2:
        quiet2.ping()
        time.sleep(1.6)
        assert not quiet.is_closed_now()
        assert not quiet2.is_closed_now()
        quiet.ping()
        quiet2.ping()


# ======================================================================================
# Connection limit

def open_served(srv, n):
    conns = []
    for i in range(n):
        c = srv.connect()
        c.ping()
        conns.append(c)
    return conns


def connect_until_served(srv, deadline_s=5.0):
    """A new connection that gets a PING answered; retried while the server catches up."""
    deadline = time.monotonic() + deadline_s
    last = None
    while time.monotonic() < deadline:
        c = srv.connect(timeout=2.0)
        try:
            c.ping()
            return c
        except (rc.ConnectionClosed, ConnectionResetError, BrokenPipeError, socket.timeout) as e:
            last = e
            c.close()
            time.sleep(0.1)
    pytest.fail("no new connection was served within %.1f s after one closed: %r"
                % (deadline_s, last))


@pytest.mark.parametrize("how", ["flag", "env"])
def test_max_connections(server_factory, how):
    if how == "flag":
        srv = server_factory(["--set", "network.max_connections=3"])
    else:
        srv = server_factory(env={"RSTMDB_MAX_CONNECTIONS": "3"})
    conns = open_served(srv, 3)
    try:
        # beyond the limit: accepted and closed at once, nothing written
        for _ in range(2):
            with srv.connect() as extra:
                start = time.monotonic()
                extra.expect_closed(3.0)
                assert time.monotonic() - start < 3.0
        # the 3 are still fine
        for c in conns:
            c.ping()
        # one goes away; a new connection is served
        conns.pop(0).close()
        conns.append(connect_until_served(srv))
        for c in conns:
            c.ping()
        # and the limit still holds
        with srv.connect() as extra:
            extra.expect_closed(3.0)
    finally:
        for c in conns:
            c.close()


def test_rejected_connection_sends_nothing_even_if_client_talks(server_factory):
    srv = server_factory(["--set", "network.max_connections=1"])
    with srv.connect() as first:
        first.ping()
        with srv.connect() as extra:
            try:
                extra.send_raw(ping_frame("x"))
            except (BrokenPipeError, ConnectionResetError):
                pass
            extra.expect_closed(3.0)
        first.ping()


def test_connections_after_bye_free_their_slot(server_factory):
    srv = server_factory(["--set", "network.max_connections=2"])
    for i in range(6):
        c = connect_until_served(srv)
        rc.assert_ok(c.request("BYE"))
        c.expect_closed(5)
        c.close()
    conns = open_served(srv, 2)
    with srv.connect() as extra:
        extra.expect_closed(3.0)
    for c in conns:
        c.close()


def test_many_connections_under_default_limit(server):
    conns = []
    try:
        for i in range(100):
            conns.append(server.connect(rc.FRAMINGS[i % 3]))
        for c in conns:
            c.ping()
    finally:
        for c in conns:
            c.close()
