"""sd_notify (runtime.md §5.2): the test plays systemd.

It binds an AF_UNIX datagram socket, passes it as NOTIFY_SOCKET (a path, or `@name` in the
abstract namespace) and reads what rstmdbd sends: STATUS= per startup phase, READY=1 once the
listener accepts (a client connects right then, without retrying), the periodic STATUS= line,
WATCHDOG=1 at half of WATCHDOG_USEC, and STOPPING=1 then exit 0 on SIGTERM. Every message's
sender is checked with SCM_CREDENTIALS, as systemd does for NotifyAccess=main.
"""

import os
import re
import select
import signal
import socket
import struct
import subprocess
import time
import uuid

import pytest

import rcp_client as rc
from conftest import STARTUP_TIMEOUT, _spawn
from data_helpers import SIMPLE_DEF

LISTEN_RE = re.compile(r"Server listening on 127\.0\.0\.1:(\d+) \(plain\)")
PERIODIC_STATUS_INTERVAL = 10.0  # ServiceHeartbeat::kStatusInterval


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET."""

    def __init__(self, tmp_path, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "rstmdb-e2e-notify-%s" % uuid.uuid4().hex
            self.address = "@" + name
            self.sock.bind("\0" + name)
        else:
            path = str(tmp_path / "notify.sock")
            if len(path) > 100:
                path = "/tmp/rstmdb-notify-%s.sock" % uuid.uuid4().hex
            self.address = path
            self.sock.bind(path)
            self._path = path
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (monotonic time, sender pid, {key: value}, raw text)

    def close(self):
        self.sock.close()
        if getattr(self, "_path", None):
            try:
                os.unlink(self._path)
            except OSError:
                pass

    def receive(self, timeout):
        """One message within `timeout` s, or None."""
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not ready:
            return None
        data, ancdata, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid, _uid, _gid = struct.unpack("iII", payload[:12])
        text = data.decode("utf-8")
        fields = {}
        for line in text.split("\n"):
            key, sep, value = line.partition("=")
            assert sep, "notify line without '=': %r in %r" % (line, text)
            assert key not in fields, "duplicate %s in one datagram: %r" % (key, text)
            fields[key] = value
        msg = (time.monotonic(), pid, fields, text)
        self.messages.append(msg)
        return msg

    def wait_for(self, key, value, timeout, proc=None):
        """Read until a message has key=value; returns it (fails on timeout or exit)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail("no %s=%s within %.0f s; got %r"
                            % (key, value, timeout, [m[3] for m in self.messages]))
            msg = self.receive(min(left, 0.2))
            if msg is not None and msg[2].get(key) == value:
                return msg
            if msg is None and proc is not None and proc.poll() is not None:
                pytest.fail("rstmdbd exited with %r while waiting for %s=%s; got %r"
                            % (proc.returncode, key, value, [m[3] for m in self.messages]))

    def collect(self, seconds):
        """Every message within the next `seconds`."""
        got = []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            msg = self.receive(left)
            if msg is not None:
                got.append(msg)


@pytest.fixture
def systemd(tmp_path):
    fake = FakeSystemd(tmp_path)
    yield fake
    fake.close()


def launch(server_factory, notify_env, args=()):
    """Start rstmdbd under the fake manager without waiting for its log (the test waits for
    READY=1 instead)."""
    srv = server_factory(list(args), env=notify_env, start=False)
    with open(srv.stdout_path, "wb") as out, open(srv.stderr_path, "wb") as err:
        srv.proc = _spawn(lambda: subprocess.Popen(
            srv.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=srv.env,
            cwd=str(srv.workdir)))
    return srv


def port_after_ready(srv):
    """The listener's port: its log line precedes READY=1 (every log line is flushed)."""
    m = LISTEN_RE.search(srv.stdout_text())
    assert m, "READY=1 arrived before the 'Server listening' line\n" + srv.output()
    srv.port = int(m.group(1))
    return srv.port


def test_ready_after_startup_phases_then_connect_at_once(server_factory, systemd):
    srv = launch(server_factory, {"NOTIFY_SOCKET": systemd.address})
    ready = systemd.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    port_after_ready(srv)
    # The listener accepts the moment READY=1 is out: one attempt, no retry loop.
    with rc.Connection("127.0.0.1", srv.port) as c:
        assert rc.assert_ok(c.hello())["protocol_version"] == 1
        c.ping()

    before = [m[2] for m in systemd.messages if m[0] <= ready[0]]
    statuses = [f["STATUS"] for f in before if "STATUS" in f]
    assert statuses[:2] == ["starting: opening storage", "starting: binding 127.0.0.1:0"], statuses
    assert ready[2]["STATUS"] == "ready; 0 conns; offset 0", ready[3]
    assert sum(1 for f in before if "READY" in f) == 1
    # Every datagram comes from the main process (systemd's NotifyAccess=main).
    assert {m[1] for m in systemd.messages} == {srv.proc.pid}
    # READY=1 is sent once: not again while running.
    assert not [m for m in systemd.collect(0.5) if "READY" in m[2]]


def test_sigterm_sends_stopping_and_exits_0(server_factory, systemd):
    srv = launch(server_factory, {"NOTIFY_SOCKET": systemd.address},
                 ["--set", "network.shutdown_grace_secs=3"])
    systemd.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    port_after_ready(srv)
    with rc.Connection("127.0.0.1", srv.port) as c:
        c.ping()
        srv.send_signal(signal.SIGTERM)
        stopping = systemd.wait_for("STOPPING", "1", 5, srv.proc)
        assert stopping[2]["STATUS"] == "draining 1 connection(s), grace 3s", stopping[3]
        c.expect_closed(5)
    assert srv.wait(3 + 4) == 0, srv.output()
    after = [m[2].get("STATUS") for m in systemd.collect(0.2)]
    later = [m[2].get("STATUS") for m in systemd.messages if m[0] > stopping[0]] + after
    assert "stopping: connections closed; syncing storage" in later, later
    assert not [m for m in systemd.messages if m[0] > stopping[0] and "READY" in m[2]]
    assert "Server stopped" in srv.stdout_text()


def test_reload_is_bracketed_with_reloading_and_ready(server_factory, systemd):
    """SIGHUP (Type=notify-reload's reload): RELOADING=1 with MONOTONIC_USEC, then READY=1."""
    srv = launch(server_factory, {"NOTIFY_SOCKET": systemd.address})
    systemd.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    port_after_ready(srv)
    srv.send_signal(signal.SIGHUP)
    reloading = systemd.wait_for("RELOADING", "1", 5, srv.proc)
    assert int(reloading[2]["MONOTONIC_USEC"]) > 0, reloading[3]
    assert reloading[2]["STATUS"] == "reloading configuration", reloading[3]
    ready = systemd.wait_for("READY", "1", 5, srv.proc)
    assert ready[0] >= reloading[0]
    assert ready[2]["STATUS"].startswith("ready; "), ready[3]
    assert "reload applied: no changes" in srv.stdout_text()


def test_abstract_namespace_socket(server_factory, tmp_path):
    fake = FakeSystemd(tmp_path, abstract=True)
    try:
        srv = launch(server_factory, {"NOTIFY_SOCKET": fake.address})
        fake.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
        port_after_ready(srv)
        with rc.Connection("127.0.0.1", srv.port) as c:
            c.ping()
    finally:
        fake.close()


def test_watchdog_cadence_and_periodic_status(server_factory, systemd):
    """WATCHDOG_USEC=400 ms: WATCHDOG=1 about every 200 ms; STATUS= every 10 s with the
    connection count and latest offset."""
    srv = launch(server_factory, {"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "400000"})
    ready = systemd.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    port_after_ready(srv)
    assert "watchdog: WATCHDOG=1 every 200000 us" in srv.stdout_text()
    with rc.Connection("127.0.0.1", srv.port) as a, rc.Connection("127.0.0.1", srv.port) as b:
        rc.assert_ok(a.request("PUT_MACHINE", {"machine": "m", "version": 1, "definition": SIMPLE_DEF}))
        created = rc.assert_ok(b.request("CREATE_INSTANCE", {"machine": "m", "version": 1}))
        offset = created["wal_offset"]
        window = PERIODIC_STATUS_INTERVAL + 2.5
        got = systemd.collect(window - (time.monotonic() - ready[0]))
    kicks = [m for m in got if m[2] == {"WATCHDOG": "1"}]
    # ~60 expected over the window; the bounds prove a cadence, not exact timing.
    assert 25 <= len(kicks) <= 90, "%d WATCHDOG=1 in %.1f s" % (len(kicks), window)
    periodic = [m[2]["STATUS"] for m in got if "STATUS" in m[2]]
    assert periodic == ["ready; 2 conns; offset %d" % offset], periodic


def test_watchdog_for_another_pid_is_not_ours(server_factory, systemd):
    srv = launch(server_factory, {"NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "200000",
                                  "WATCHDOG_PID": "1"})
    systemd.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    assert not [m for m in systemd.collect(1.0) if "WATCHDOG" in m[2]]
    assert "watchdog:" not in srv.stdout_text()


def test_without_watchdog_usec_no_keepalives(server_factory, systemd):
    srv = launch(server_factory, {"NOTIFY_SOCKET": systemd.address})
    systemd.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    assert not [m for m in systemd.collect(1.0) if "WATCHDOG" in m[2]]


def test_unusable_notify_socket_warns_and_serves(server_factory):
    srv = server_factory(env={"NOTIFY_SOCKET": "relative/notify.sock", "WATCHDOG_USEC": "junk"})
    with srv.connect() as c:
        c.ping()
    out = srv.stdout_text()
    assert "sd_notify: NOTIFY_SOCKET=relative/notify.sock: not an absolute path or @name" in out, out
    assert "sd_notify: ignoring WATCHDOG_USEC=junk" in out, out


def test_manager_gone_does_not_disturb_the_server(server_factory, tmp_path):
    """systemd restarted its socket or went away: sends fail silently, clients are served."""
    fake = FakeSystemd(tmp_path)
    srv = launch(server_factory, {"NOTIFY_SOCKET": fake.address, "WATCHDOG_USEC": "100000"})
    fake.wait_for("READY", "1", STARTUP_TIMEOUT, srv.proc)
    port_after_ready(srv)
    fake.close()
    time.sleep(0.3)  # several WATCHDOG=1 sends into the void
    with rc.Connection("127.0.0.1", srv.port) as c:
        c.ping()
    assert srv.proc.poll() is None
