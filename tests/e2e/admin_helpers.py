"""Helpers for the admin-socket and backup end-to-end tests (test_admin_*.py, test_backup*.py).

AdminConnection speaks the admin socket's JSONL envelopes (runtime.md §5.7); run_tool runs an
rstmdbd subcommand (status, reload, backup, verify-backup, restore) to completion; the data
helpers write a load and read a server's whole state back for comparisons.
"""

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

import rcp_client as rc
from conftest import binary_path, clean_env, _spawn
from load_helpers import (CYCLE_DEF, Load, LoadWriter, all_instances, expected_from_log, read_log,  # noqa: F401
                          setup_machine)

# Exit codes of runtime.md §5.8 / §7.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 64
EXIT_INVALID = 65
EXIT_UNAVAILABLE = 69
EXIT_EXISTS = 73
EXIT_IO = 74
EXIT_LOCKED = 75
EXIT_PERMISSION = 77

TOOL_TIMEOUT = 60.0

def socket_path(server):
    return str(server.data_dir / "admin.sock")


class AdminConnection:
    """A blocking client of the admin socket. Every read has a deadline."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 1

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_line(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def recv_line(self, timeout=10.0):
        """One response line as a dict; None at end of input."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no admin response within %.0f s" % timeout)
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode())

    def request(self, op, params=None, timeout=60.0):
        rid = str(self.next_id)
        self.next_id += 1
        self.send_line(json.dumps({"type": "request", "id": rid, "op": op, "params": params or {}}) + "\n")
        msg = self.recv_line(timeout)
        assert msg is not None, "admin socket closed without answering %s" % op
        assert msg["type"] == "response" and msg["id"] == rid, msg
        return msg

    def ok(self, op, params=None, timeout=60.0):
        msg = self.request(op, params, timeout)
        assert msg["status"] == "ok", msg
        return msg["result"]

    def expect_eof(self, timeout=15.0):
        """True once the server closes the connection (after discarding any bytes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False


def run_tool(args, env=None, timeout=TOOL_TIMEOUT, stdin=None, stdout=None, preexec_fn=None):
    """Runs `rstmdbd ARGS...`; returns CompletedProcess with text stdout (unless redirected)
    and stderr."""
    binary = binary_path()
    cmd = [str(binary)] + [str(a) for a in args]
    try:
        p = _spawn(lambda: subprocess.run(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                          stdout=stdout if stdout is not None else subprocess.PIPE,
                                          stderr=subprocess.PIPE, env=clean_env(env), timeout=timeout,
                                          preexec_fn=preexec_fn))
    except subprocess.TimeoutExpired as e:
        pytest.fail("rstmdbd %r did not exit within %.0f s\nstderr:\n%s"
                    % (args, timeout, (e.stderr or b"").decode("utf-8", "replace")))
    out = p.stdout.decode("utf-8", "replace") if isinstance(p.stdout, bytes) else p.stdout
    return subprocess.CompletedProcess(p.args, p.returncode, out, p.stderr.decode("utf-8", "replace"))


def tool_ok(args, **kw):
    p = run_tool(args, **kw)
    assert p.returncode == 0, "rstmdbd %r exited %d\nstdout:\n%s\nstderr:\n%s" % (args, p.returncode, p.stdout,
                                                                                  p.stderr)
    return p


def backups_in(directory):
    """Visible directory backups (rstmdb-*), sorted by name (= time)."""
    d = Path(directory)
    if not d.exists():
        return []
    return sorted(p for p in d.iterdir() if p.name.startswith("rstmdb-"))


def manifest_of(backup_dir):
    return json.loads((Path(backup_dir) / "MANIFEST.json").read_text())


def flip_byte(path, offset=None):
    """Flips one bit of a file, by default in its middle."""
    path = Path(path)
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x20
    path.write_bytes(bytes(data))


def largest_file(directory, suffix=".sst"):
    files = [p for p in Path(directory).rglob("*" + suffix) if p.is_file()]
    assert files, "no %s file under %s" % (suffix, directory)
    return max(files, key=lambda p: p.stat().st_size)


# --------------------------------------------------------------------------------------

def assert_restored_matches(source, restored, latest):
    """`restored` holds exactly `source`'s history up to `latest`: the same log records, the
    instances that log implies, and for instances not written after `latest` the very same
    objects as on the source."""
    with source.connect(timeout=30) as a, restored.connect(timeout=30) as b:
        stats = rc.assert_ok(b.request("WAL_STATS"))
        assert stats["latest_offset"] == latest, stats
        source_log = read_log(a, up_to=latest)
        restored_log = read_log(b)
        assert [r["offset"] for r in restored_log] == list(range(1, latest + 1))
        assert restored_log == source_log
        expected = expected_from_log(source_log)
        got = all_instances(b)
        assert set(got) == set(expected)
        for iid, (state, offset, ctx) in expected.items():
            assert (got[iid]["state"], got[iid]["last_wal_offset"], got[iid]["ctx"]) == (state, offset, ctx), iid
        now = all_instances(a)
        unchanged = [iid for iid, inst in now.items() if inst["last_wal_offset"] <= latest]
        for iid in unchanged:
            assert got[iid] == now[iid], iid
        return len(unchanged)
