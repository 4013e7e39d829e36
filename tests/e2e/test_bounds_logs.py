"""Warnings a client can trigger are rate-limited (runtime.md §4.4, §4.3): at most one line per
kind per 10 s, and the suppressed ones are counted, so the log stays bounded under abuse and
still says how much happened."""

import re
import time

import pytest

import rcp_client as rc

HASH_OF_SECRET = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"  # "secret"


def lines_with(srv, fragment):
    return [line for line in srv.stdout_text().splitlines() if fragment in line]


def reject_burst(srv, n):
    for _ in range(n):
        with srv.connect(timeout=5) as c:
            c.expect_closed(5)


def test_connection_limit_warning_is_rate_limited_and_counted(server_factory):
    srv = server_factory(["--set", "network.max_connections=1"])
    rejects = 300
    with srv.connect() as holder:
        holder.ping()
        start = time.monotonic()
        reject_burst(srv, rejects)
        burst_s = time.monotonic() - start
        assert burst_s < 9, "burst too slow to test the 10 s window (%.1f s)" % burst_s
        shown = lines_with(srv, "connection limit reached (1), rejecting 127.0.0.1:")
        assert len(shown) == 1, shown
        # The count of the suppressed ones is reported when the window ends.
        deadline = time.monotonic() + 15
        summary = []
        while time.monotonic() < deadline and not summary:
            summary = lines_with(srv, "connection limit reached: ")
            time.sleep(0.2)
        assert summary, "no suppressed-count line within 15 s\n" + srv.output()
        m = re.search(r"connection limit reached: (\d+) more in the last 10 s \(suppressed\)", summary[0])
        assert m, summary
        assert len(shown) + int(m.group(1)) == rejects, (shown, summary)
        assert " WARN " in summary[0]
        holder.ping()


def test_protocol_error_closes_are_rate_limited(server):
    for i in range(200):
        with server.connect() as c:
            try:
                c.send_raw(b"RCPX\x00\x09" + b"\x00" * 12)  # version 9
            except (BrokenPipeError, ConnectionResetError):
                pass
            c.expect_closed(5)
    lines = lines_with(server, "closed: protocol error")
    assert 1 <= len(lines) <= 2, lines
    with server.connect() as c:
        c.ping()


def test_auth_failure_closes_are_rate_limited(server_factory):
    srv = server_factory(["--set", "auth.required=true",
                          "--set", "auth.token_hashes=[%s]" % HASH_OF_SECRET,
                          "--set", "auth.max_failures_per_connection=1"])
    for i in range(100):
        with srv.connect() as c:
            rc.assert_error(c.auth("wrong-%d" % i), "AUTH_FAILED")
            c.expect_closed(5)
    lines = lines_with(srv, "failed AUTH attempt")
    assert len(lines) == 1, lines
    assert "wrong" not in srv.stdout_text(), "a token reached the log"
    with srv.connect() as c:
        rc.assert_ok(c.auth("secret"))
