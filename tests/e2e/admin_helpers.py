"""Helpers for the admin-socket and backup end-to-end tests (test_admin_*.py, test_backup*.py).

AdminConnection speaks the admin socket's JSONL envelopes (runtime.md §5.7); run_tool runs an
rstmdbd subcommand (status, reload, backup, verify-backup, restore) to completion; the data
helpers write a load and read a server's whole state back for comparisons.
"""

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

import rcp_client as rc
from conftest import binary_path, clean_env, _spawn

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

CYCLE_DEF = {
    "states": ["s0", "s1", "s2", "s3", "s4"],
    "initial": "s0",
    "transitions": [{"from": "s%d" % i, "event": "NEXT", "to": "s%d" % ((i + 1) % 5)} for i in range(5)],
}


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
# Data: a load to back up, and a server's complete state to compare.

def setup_machine(conn, instances, prefix="inst"):
    rc.assert_ok(conn.request("PUT_MACHINE", {"machine": "cycle", "version": 1, "definition": CYCLE_DEF}))
    ids = ["%s-%04d" % (prefix, i) for i in range(instances)]
    for iid in ids:
        conn.send(rc.make_request("CREATE_INSTANCE", {"instance_id": iid, "machine": "cycle", "version": 1,
                                                      "initial_ctx": {"n": 0}}, id="c-" + iid))
    for iid in ids:
        rc.assert_ok(conn.recv_response(), id="c-" + iid)
    return ids


class LoadWriter(threading.Thread):
    """Applies NEXT to instances of its own slice, and every 4th request an atomic BATCH
    moving two of them, recording each acknowledged write's offsets with the time of its ack."""

    def __init__(self, server, ids, index, stop):
        super().__init__(daemon=True)
        self.server, self.ids, self.index, self.stop = server, ids, index, stop
        self.acked = []    # (ack_monotonic_time, [offsets])
        self.batches = []  # offsets of each acknowledged atomic batch
        self.error = None

    def run(self):
        try:
            conn = self.server.connect(timeout=30)
        except OSError as e:
            self.error = e
            return
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                a = self.ids[n % len(self.ids)]
                if n % 4 == 0:
                    b = self.ids[(n + 1) % len(self.ids)]
                    r = conn.request("BATCH", {"mode": "atomic", "ops": [
                        {"op": "APPLY_EVENT", "params": {"instance_id": a, "event": "NEXT",
                                                         "payload": {"n": n, "w": self.index}}},
                        {"op": "APPLY_EVENT", "params": {"instance_id": b, "event": "NEXT",
                                                         "payload": {"n": n, "w": self.index}}}]})
                    rc.assert_ok(r)
                    offsets = [res["result"]["wal_offset"] for res in r["result"]["results"]]
                    self.batches.append(offsets)
                else:
                    r = conn.request("APPLY_EVENT", {"instance_id": a, "event": "NEXT",
                                                     "payload": {"n": n, "w": self.index}})
                    rc.assert_ok(r)
                    offsets = [r["result"]["wal_offset"]]
                self.acked.append((time.monotonic(), offsets))
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            conn.close()


class Load:
    """`writers` LoadWriters over disjoint slices of `ids`, started at once."""

    def __init__(self, server, ids, writers=6):
        self.stop_event = threading.Event()
        size = max(2, len(ids) // writers)
        self.writers = [LoadWriter(server, ids[i * size:(i + 1) * size], i, self.stop_event)
                        for i in range(writers)]
        for w in self.writers:
            w.start()

    def wait_for_acks(self, n, timeout=20.0):
        deadline = time.monotonic() + timeout
        while sum(len(w.acked) for w in self.writers) < n:
            assert time.monotonic() < deadline, "load made too little progress"
            assert not any(w.error for w in self.writers), [w.error for w in self.writers]
            time.sleep(0.01)

    def finish(self):
        self.stop_event.set()
        for w in self.writers:
            w.join(timeout=30)
            assert not w.is_alive(), "a writer did not stop"
        errors = [w.error for w in self.writers if w.error]
        assert not errors, errors

    def acked_before(self, t):
        return [o for w in self.writers for (at, offsets) in w.acked if at < t for o in offsets]

    def batches(self):
        return [b for w in self.writers for b in w.batches]


def read_log(conn, up_to=None):
    """WAL_READ records [{offset, entry}] from the start, up to `up_to` inclusive if given."""
    records = []
    offset = 0
    for _ in range(100000):
        r = rc.assert_ok(conn.request("WAL_READ", {"from_offset": offset, "limit": 1000}))
        for rec in r["records"]:
            if up_to is not None and rec["offset"] > up_to:
                return records
            records.append(rec)
        if not r["hasMore"]:
            return records
        offset = r["next_offset"]
    pytest.fail("WAL_READ did not finish")


def all_instances(conn):
    """Every live instance, as GET_INSTANCE returns it, by id."""
    ids = []
    offset = 0
    while True:
        r = rc.assert_ok(conn.request("LIST_INSTANCES", {"limit": 1000, "offset": offset}))
        ids += [i["id"] for i in r["instances"]]
        if not r["has_more"]:
            break
        offset += len(r["instances"])
    for iid in ids:
        conn.send(rc.make_request("GET_INSTANCE", {"instance_id": iid}, id="g-" + iid))
    out = {}
    for iid in ids:
        out[iid] = rc.assert_ok(conn.recv_response(), id="g-" + iid)
    return out


def expected_from_log(records):
    """(state, last_wal_offset, ctx) of every instance, replayed from log records."""
    expected = {}
    for rec in records:
        e = rec["entry"]
        if e["type"] == "create_instance":
            expected[e["instance_id"]] = (e["initial_state"], rec["offset"], e["initial_ctx"])
        elif e["type"] == "apply_event":
            expected[e["instance_id"]] = (e["to_state"], rec["offset"], e["ctx"])
        elif e["type"] == "delete_instance":
            expected.pop(e["instance_id"], None)
    return expected


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
