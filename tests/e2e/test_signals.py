"""Signals (runtime.md §5.3): SIGHUP asks for a reload and never ends the process.

What a reload changes is tested in test_reload.py; these tests check the part that must hold
whatever the configuration says: `kill -HUP` / `systemctl reload` at any moment
(while serving, during startup, during shutdown) leaves a working server, or a clean exit 0
when it was already stopping.
"""

import signal
import threading
import time

import rcp_client as rc
from conftest import EXIT_OK

RELOAD_LINE = "reload applied: no changes"


def count_lines(srv, fragment):
    return sum(1 for line in srv.stdout_text().splitlines() if fragment in line)


def wait_for_lines(srv, fragment, n, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count_lines(srv, fragment) >= n:
            return
        time.sleep(0.02)
    raise AssertionError("expected %d line(s) with %r\n%s" % (n, fragment, srv.output()))


def test_sighup_while_serving_is_logged_and_ignored(server_factory):
    srv = server_factory()
    with srv.connect() as before:
        before.ping()
        for i in range(3):
            srv.send_signal(signal.SIGHUP)
            wait_for_lines(srv, RELOAD_LINE, i + 1)
            assert srv.proc.poll() is None, "SIGHUP ended the server\n" + srv.output()
            before.ping()  # an existing connection is untouched
        with srv.connect() as after:
            after.ping()
            rc.assert_ok(after.request("INFO"))
    assert count_lines(srv, RELOAD_LINE) == 3
    assert srv.stop() == EXIT_OK


def test_sighup_storm_during_startup_does_not_kill(server_factory):
    """SIGHUP every millisecond from the first log line until the server serves: the window
    before the server's own handler exists (config, storage open) must be covered too. (The
    first milliseconds of exec, before main() runs, cannot be covered by any program.)"""
    srv = server_factory(start=False)
    stop = threading.Event()
    sent = [0]

    def storm():
        while not stop.is_set():
            proc = srv.proc
            if proc is not None and proc.poll() is None and "starting (rstmdb-cpp" in srv.stdout_text():
                try:
                    proc.send_signal(signal.SIGHUP)
                    sent[0] += 1
                except ProcessLookupError:
                    return
            time.sleep(0.001)

    t = threading.Thread(target=storm, daemon=True)
    t.start()
    try:
        srv.start()  # fails the test if the process exits before listening
        time.sleep(0.2)
    finally:
        stop.set()
        t.join(5)
    assert sent[0] > 10, sent
    assert srv.proc.poll() is None, srv.output()
    with srv.connect() as c:
        c.ping()
    assert srv.stop() == EXIT_OK


def test_sighup_during_shutdown_still_exits_cleanly(server_factory):
    srv = server_factory(["--set", "network.shutdown_grace_secs=2"])
    c = srv.connect()
    c.ping()  # an open connection keeps the drain busy for a moment
    srv.send_signal(signal.SIGTERM)
    for _ in range(20):
        if srv.proc.poll() is not None:
            break
        try:
            srv.send_signal(signal.SIGHUP)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    c.close()
    rcode = srv.wait(10)
    assert rcode == EXIT_OK, (rcode, srv.output())
    assert "Server stopped" in srv.stdout_text()
