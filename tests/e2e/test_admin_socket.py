"""The admin socket (runtime.md §5.7) and the commands that use it: `rstmdbd status` and
`rstmdbd reload` (§2.1). The socket's envelopes, its bounds (line length, connections, read
timeout), who may connect (file mode and SO_PEERCRED), its life with the server (created
before READY, stale files replaced, removed at shutdown), and that its ops never work on TCP."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rcp_client as rc
from admin_helpers import (EXIT_ERROR, EXIT_OK, EXIT_UNAVAILABLE, AdminConnection, run_tool, socket_path,
                           tool_ok)
from conftest import EXIT_CONFIG, ServerProcess

ADMIN_OPS = ["ADMIN_STATUS", "ADMIN_RELOAD", "ADMIN_CHECKPOINT_CREATE", "ADMIN_CHECKPOINT_RELEASE"]
MAX_LINE = 64 * 1024
MAX_CONNECTIONS = 8
IO_TIMEOUT = 10


def admin(server):
    return AdminConnection(socket_path(server))


def start_expecting_failure(srv):
    """Starts the server process without waiting for it to listen."""
    with open(srv.stdout_path, "wb") as out, open(srv.stderr_path, "wb") as err:
        srv.proc = subprocess.Popen(srv.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=srv.env,
                                    cwd=str(srv.workdir))


# ---- status ---------------------------------------------------------------------------

def test_status_command_prints_the_servers_status(server_factory):
    srv = server_factory()
    with srv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "m", "version": 1, "definition": {
            "states": ["a"], "initial": "a", "transitions": []}}))
        p = tool_ok(["status", "--data-dir", srv.data_dir])
        status = json.loads(p.stdout)
        assert list(status) == ["state", "uptime_s", "connections", "subscriptions", "latest_offset", "pid", "version",
                                "data_dir", "last_reload", "last_backup", "checkpoints_open", "tls",
                                "connections_rejected", "reloads", "config_generation"]
        assert status["state"] == "ready"
        assert status["connections"] == 1  # this RCP connection
        assert status["subscriptions"] == {"instance": 0, "all": 0}
        assert status["latest_offset"] == 1
        assert status["pid"] == srv.proc.pid
        assert status["version"] == "0.1.0"
        assert status["data_dir"] == str(srv.data_dir)
        assert status["last_reload"] is None and status["last_backup"] is None
        assert status["checkpoints_open"] == 0
        assert status["tls"] is None  # plain listener (test_tls.py for TLS)
        assert status["connections_rejected"] == {"tls_handshake": 0, "handshake_timeout": 0}
        assert status["reloads"] == {"applied": 0, "rejected": 0}
        assert status["config_generation"] == 1
        assert isinstance(status["uptime_s"], int) and status["uptime_s"] >= 0
    assert p.stdout.count("\n") == 1  # one JSON line


def test_status_finds_the_socket_from_the_configuration(server_factory, tmp_path):
    sock = Path("/tmp") / ("rstmdb-e2e-%d.sock" % os.getpid())
    srv = server_factory(["--set", "admin.socket_path=%s" % sock])
    try:
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert not (srv.data_dir / "admin.sock").exists()
        # The same key from a file, as an operator configures both server and tool.
        cfg = tmp_path / "c.yaml"
        cfg.write_text("admin:\n  socket_path: %s\n" % sock)
        assert json.loads(tool_ok(["status", "--config", cfg]).stdout)["state"] == "ready"
        # The data directory alone points at the default path, where nothing listens.
        p = run_tool(["status", "--data-dir", srv.data_dir])
        assert p.returncode == EXIT_UNAVAILABLE, p
    finally:
        srv.stop()
    assert not sock.exists()


def test_status_without_a_server_exits_69(tmp_path):
    p = run_tool(["status", "--data-dir", tmp_path / "nothing"])
    assert p.returncode == EXIT_UNAVAILABLE
    assert "cannot connect to the admin socket" in p.stderr and "is rstmdbd running" in p.stderr
    assert p.stdout == ""


# ---- reload ---------------------------------------------------------------------------

def test_reload_through_the_tool_and_the_socket(server_factory, tmp_path):
    """`rstmdbd reload` and ADMIN_RELOAD run the server's reload (test_reload.py has what a
    reload changes): nothing changed, then a rejected one (exit 78, old state kept)."""
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("network:\n  idle_timeout_secs: 300\n")
    srv = server_factory(["--config", cfg])
    p = tool_ok(["reload", "--config", cfg, "--data-dir", srv.data_dir])
    assert p.stdout == "reload applied: nothing changed\n", p.stdout
    with admin(srv) as a:
        assert a.ok("ADMIN_RELOAD") == {"applied": True, "changed": [], "restart_required": []}
        cfg.write_text("network:\n  idle_timeout_secs: -1\n")
        msg = a.request("ADMIN_RELOAD")
        assert msg["status"] == "error" and msg["error"]["code"] == "BAD_REQUEST", msg
        assert msg["error"]["details"] == {"reason": "rejected"}
        assert msg["error"]["message"].startswith("reload rejected: network.idle_timeout_secs (file:"), msg
        assert msg["error"]["message"].endswith("; keeping previous configuration"), msg
        status = a.ok("ADMIN_STATUS")
        assert status["last_reload"]["result"] == "rejected"
        assert status["last_reload"]["trigger"] == "ADMIN_RELOAD on the admin socket"
        assert status["reloads"] == {"applied": 2, "rejected": 1}
        assert status["config_generation"] == 3
    # The tool reads the (now invalid) file itself first: a config error of its own, exit 78.
    p = run_tool(["reload", "--data-dir", srv.data_dir, "--config", cfg])
    assert p.returncode == EXIT_CONFIG, (p.returncode, p.stderr)
    with srv.connect() as c:  # the server goes on with the old configuration
        assert rc.assert_ok(c.request("INFO"))["auth_required"] is False


def test_reload_without_a_server_exits_69(tmp_path):
    assert run_tool(["reload", "--data-dir", tmp_path / "none"]).returncode == EXIT_UNAVAILABLE


# ---- the socket file ------------------------------------------------------------------

def test_socket_is_0600_exists_before_ready_and_is_removed_at_shutdown(server_factory):
    srv = server_factory()
    path = Path(socket_path(srv))
    st = path.stat()
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    out = srv.stdout_text()
    assert out.index("admin socket listening on %s" % path) < out.index("Server listening on")
    assert srv.stop() == 0
    assert not path.exists()


def test_a_stale_socket_file_is_replaced(tmp_path):
    srv = ServerProcess(tmp_path / "stale")
    srv.data_dir.mkdir(parents=True)
    path = srv.data_dir / "admin.sock"
    # What a killed server leaves: a socket file nobody listens on.
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    try:
        srv.start()
        assert "replaced a stale socket file" in srv.stdout_text()
        with admin(srv) as a:
            assert a.ok("ADMIN_STATUS")["state"] == "ready"
        # kill -9 leaves the file; the next start replaces it again.
        srv.proc.send_signal(signal.SIGKILL)
        srv.wait(10)
        assert path.exists()
        again = ServerProcess(srv.workdir, name="stale-again").start()
        with AdminConnection(str(path)) as a:
            assert a.ok("ADMIN_STATUS")["pid"] == again.proc.pid
        assert again.stop() == 0
    finally:
        srv.stop_quietly()
        srv.cleanup_tmp()


def test_a_socket_someone_listens_on_is_never_taken_over(tmp_path):
    path = Path("/tmp") / ("rstmdb-e2e-busy-%d.sock" % os.getpid())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    srv = ServerProcess(tmp_path / "busy", extra_args=["--set", "admin.socket_path=%s" % path])
    try:
        start_expecting_failure(srv)
        assert srv.wait(20) == EXIT_UNAVAILABLE, srv.output()
        assert "admin socket %s is in use by another process" % path in srv.stdout_text()
        assert path.exists()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(str(path))  # still the other listener's
        conn.close()
    finally:
        listener.close()
        path.unlink()
        srv.cleanup_tmp()


def test_a_path_that_is_not_a_socket_is_never_removed(tmp_path):
    srv = ServerProcess(tmp_path / "file")
    srv.data_dir.mkdir(parents=True)
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    srv.args += ["--set", "admin.socket_path=%s" % precious]
    start_expecting_failure(srv)
    assert srv.wait(20) == EXIT_UNAVAILABLE, srv.output()
    assert "exists and is not a socket" in srv.stdout_text()
    assert precious.read_text() == "keep me"
    srv.cleanup_tmp()


# ---- envelopes and op separation ---------------------------------------------------------

@pytest.mark.parametrize("op", ADMIN_OPS)
@pytest.mark.parametrize("framing", ["rcpx", "jsonl"])
def test_admin_ops_are_unknown_on_tcp(server, op, framing):
    with server.connect(framing=framing) as c:
        msg = c.request(op, {"id": "x"} if op == "ADMIN_CHECKPOINT_RELEASE" else {})
        rc.assert_error(msg, "BAD_REQUEST", "unknown operation: %s" % op)
        assert c.ping()  # the connection stays usable
    # ... and nothing was done: no checkpoint exists.
    assert list((server.data_dir / "checkpoints").iterdir()) == []


def test_rcp_ops_are_unknown_on_the_admin_socket(server):
    with admin(server) as a:
        for op in ["PING", "HELLO", "WAL_STATS", "FLUSH_ALL", "admin_status"]:
            msg = a.request(op)
            assert msg["status"] == "error", msg
            assert msg["error"] == {"code": "BAD_REQUEST", "message": "unknown operation: %s" % op,
                                    "retryable": False}


def test_bad_envelopes_are_answered_and_the_connection_stays_open(server):
    with admin(server) as a:
        a.send_line(b"{not json\n")
        msg = a.recv_line()
        assert msg["status"] == "error" and msg["id"] == ""
        assert msg["error"]["message"].startswith("invalid request: malformed JSON")
        a.send_line(b'{"type":"request","op":"ADMIN_STATUS"}\n')
        assert a.recv_line()["error"]["message"] == "invalid request: missing or invalid field 'id'"
        a.send_line(b'{"type":"request","id":7,"op":"ADMIN_STATUS"}\r\n\n')  # numeric id, CRLF, blank line
        msg = a.recv_line()
        assert msg["id"] == "7" and msg["status"] == "ok"
        # Pipelined requests are answered in order.
        a.send_line(b'{"id":"a","op":"ADMIN_STATUS"}\n{"id":"b","op":"PING"}\n{"id":"c","op":"ADMIN_STATUS"}\n')
        assert [a.recv_line()["id"] for _ in range(3)] == ["a", "b", "c"]


def test_a_line_longer_than_the_limit_is_refused_and_closed(server):
    with admin(server) as a:
        a.send_line(b'{"id":"1","op":"ADMIN_STATUS","params":{"pad":"' + b"x" * (MAX_LINE - 80) + b'"}}\n')
        assert a.recv_line()["status"] == "ok"  # under the limit
        a.send_line(b"x" * (MAX_LINE + 10))
        msg = a.recv_line()
        assert msg["error"]["message"] == "request line longer than %d bytes" % MAX_LINE
        assert a.expect_eof(5)


def test_idle_and_slow_connections_are_closed(server):
    with admin(server) as idle, admin(server) as slow:
        slow.send_line(b'{"id":"1","op":"ADMIN_')  # never finished
        t0 = time.monotonic()
        assert idle.expect_eof(IO_TIMEOUT + 5)
        assert slow.expect_eof(5)
        assert IO_TIMEOUT - 1 <= time.monotonic() - t0 <= IO_TIMEOUT + 5
    with admin(server) as a:
        assert a.ok("ADMIN_STATUS")["state"] == "ready"


def test_connections_beyond_the_limit_are_closed(server):
    held = [admin(server) for _ in range(MAX_CONNECTIONS)]
    try:
        for a in held:  # all of them are being served
            assert a.ok("ADMIN_STATUS")["state"] == "ready"
        extra = admin(server)
        assert extra.expect_eof(5)
        extra.close()
        held.pop().close()
        deadline = time.monotonic() + 5
        while True:  # the server notices the close, then has room again
            with admin(server) as a:
                try:
                    a.send_line(b'{"id":"1","op":"ADMIN_STATUS"}\n')
                    if a.recv_line() is not None:
                        break
                except (ConnectionResetError, BrokenPipeError):
                    pass  # closed at accept: still full
            assert time.monotonic() < deadline, "no room for a new connection after one closed"
            time.sleep(0.05)
    finally:
        for a in held:
            a.close()
    assert "admin socket: %d connections open" % MAX_CONNECTIONS in server.stdout_text()


# ---- who may connect ----------------------------------------------------------------------

NOBODY = 65534

CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect:%d" % e.errno)
    sys.exit(0)
s.settimeout(10)
try:  # the server may already have closed the refused connection
    s.sendall(b'{"id":"1","op":"ADMIN_CHECKPOINT_CREATE"}\n')
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except ConnectionResetError:
    pass
print("reply:" + data.decode())
"""


def run_as_nobody(path):
    p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                        sys.executable, "-c", CLIENT, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode().strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client under another uid (setpriv)")
def test_a_peer_with_another_uid_is_refused(server_factory):
    # In /tmp, so that uid 65534 can reach the socket file at all; its mode then stops it...
    path = Path("/tmp") / ("rstmdb-e2e-peer-%d.sock" % os.getpid())
    srv = server_factory(["--set", "admin.socket_path=%s" % path])
    assert run_as_nobody(path) == "connect:13"  # EACCES
    # ... and with the mode opened up, SO_PEERCRED does: closed without an answer.
    os.chmod(path, 0o666)
    assert run_as_nobody(path) == "reply:"
    assert "admin socket: refused a connection from uid %d" % NOBODY in srv.stdout_text()
    assert list((srv.data_dir / "checkpoints").iterdir()) == []
    with AdminConnection(path) as a:  # the server's own uid (root here) is still served
        assert a.ok("ADMIN_STATUS")["checkpoints_open"] == 0
