"""Disk full: the real rstmdbd with its data directory on a small tmpfs.

Under durable load (every_write, 8 writer connections with incompressible payloads) the file
system fills up. The server must stop on its own with exit status 1 (not a signal), its log
must name the storage error, and nothing it acknowledged may be lost: once space is freed
(the tmpfs is remounted bigger, or a filler file is deleted) it restarts cleanly and the log
holds every acknowledged write, gap-free. Starting rstmdbd on a full file system exits 74 with
a message naming the error, never a signal, for a new and for an existing data directory.

Mounting needs root (CI runs as root); otherwise the module is skipped, saying so.
"""

import errno
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import rcp_client
from conftest import ServerProcess, run_rstmdbd

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="disk-full tests mount a small tmpfs (mount -t tmpfs), which needs root; running as uid %d"
    % os.geteuid())

EXIT_RUNTIME_ERROR = 1
EXIT_IO = 74
# Small memtables: RocksDB preallocates WAL space by the write-buffer size, so the default
# (64 MiB) would not fit the file systems below at all.
SMALL_STORAGE = ["--set", "storage.wal_segment_size_mb=1", "--set", "storage.block_cache_mb=8"]
# Room for startup (about 4.2 MiB: a 4 MiB preallocated MANIFEST) and a few hundred writes.
FULL_LOAD_FS_MB = 16
WRITERS = 8
PAYLOAD_BYTES = 16 * 1024
# Bounds on the load: it stops at the first error anyway, long before these.
MAX_REQUESTS_PER_WRITER = 5000
LOAD_SECONDS = 40.0
EXIT_WAIT = 30.0
# Log entries per WAL_READ when checking: each holds ~32 KiB (payload and merged ctx), and the
# Python client is slow with multi-megabyte responses.
WAL_READ_PAGE = 32

MACHINE = {"states": ["a", "b"], "initial": "a",
           "transitions": [{"from": "a", "event": "GO", "to": "b"}, {"from": "b", "event": "GO", "to": "a"}]}


class SmallFs:
    """A tmpfs of `size_mb` mounted at <short workdir>/fs; the server's data directory is
    <mount>/data, its logs stay in the workdir (outside the full file system)."""

    def __init__(self, size_mb):
        # Short, so <data>/admin.sock stays within the socket path limit.
        self.workdir = Path(tempfile.mkdtemp(prefix="rstmdb-df-", dir="/tmp"))
        self.mount = self.workdir / "fs"
        self.mount.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0755" % size_mb, "tmpfs",
                            str(self.mount)], capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(self.workdir, ignore_errors=True)
            pytest.fail("mount -t tmpfs failed (as root): %s" % (r.stderr or r.stdout))
        self.data_dir = self.mount / "data"
        self.servers = []

    def resize(self, size_mb):
        subprocess.run(["mount", "-o", "remount,size=%dm" % size_mb, str(self.mount)], check=True,
                       capture_output=True)

    def fill(self, name="filler"):
        """Writes a file until the file system is full; returns its path."""
        path = self.mount / name
        chunk = os.urandom(1 << 20)
        with open(path, "wb", buffering=0) as f:
            for size in (1 << 20, 1 << 12):
                while True:
                    try:
                        f.write(chunk[:size])
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
        return path

    def server(self, name, extra_args=()):
        srv = ServerProcess(self.workdir / name, extra_args=SMALL_STORAGE + list(extra_args), name=name)
        i = srv.args.index("--data-dir")
        srv.args[i + 1] = str(self.data_dir)
        srv.data_dir = self.data_dir
        self.servers.append(srv)
        return srv

    def start_args(self):
        return ["--bind", "127.0.0.1:0", "--data-dir", str(self.data_dir)] + SMALL_STORAGE

    def close(self):
        for s in self.servers:
            s.stop_quietly()
        r = subprocess.run(["umount", str(self.mount)], capture_output=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(self.mount)], capture_output=True)
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture
def small_fs():
    made = []

    def make(size_mb):
        fs = SmallFs(size_mb)
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


class Writer(threading.Thread):
    """Applies GO with a large random payload to its own instance until an error or a closed
    connection; records every acknowledged write and every error."""

    def __init__(self, server, index):
        super().__init__(daemon=True)
        self.server, self.index = server, index
        self.instance = "df-w%d" % index
        self.acked = []   # (wal_offset, n)
        self.errors = []  # error objects received
        self.closed = None

    def run(self):
        deadline = time.monotonic() + LOAD_SECONDS
        try:
            conn = self.server.connect(framing="jsonl", timeout=20)  # no pure-Python CRC per 16 KiB
        except OSError as e:
            self.closed = e
            return
        try:
            for n in range(MAX_REQUESTS_PER_WRITER):
                if time.monotonic() > deadline:
                    break
                r = conn.request("APPLY_EVENT", {"instance_id": self.instance, "event": "GO",
                                                 "payload": {"n": n, "blob": os.urandom(PAYLOAD_BYTES // 2).hex()}})
                rcp_client.validate_response(r)
                if r["status"] != "ok":
                    self.errors.append(r["error"])
                    break
                self.acked.append((r["result"]["wal_offset"], n))
        except (OSError, rcp_client.ConnectionClosed) as e:
            self.closed = e  # the server drained and closed the connection
        finally:
            conn.close()


def read_log(conn):
    by_offset = {}
    offset = 0
    for _ in range(100000):
        r = conn.request("WAL_READ", {"from_offset": offset, "limit": WAL_READ_PAGE})
        rcp_client.assert_ok(r)
        for rec in r["result"]["records"]:
            by_offset[rec["offset"]] = rec["entry"]
        if not r["result"]["hasMore"]:
            break
        offset = r["result"]["next_offset"]
    return by_offset


def check_acknowledged(server, writers):
    """Every acknowledged write is in the restarted server's log, which is gap-free."""
    # JSONL: the log is tens of MB, and the client's CRC32C (RCPX) is pure Python.
    with server.connect(framing="jsonl", timeout=30) as conn:
        log = read_log(conn)
        assert sorted(log) == list(range(1, len(log) + 1)), "the log has a gap"
        acked = 0
        for w in writers:
            for offset, n in w.acked:
                e = log.get(offset)
                assert e is not None, "acknowledged write at offset %d is lost (log ends at %d)" % (offset, len(log))
                assert (e["type"], e["instance_id"], e["payload"]["n"]) == ("apply_event", w.instance, n)
                acked += 1
            if w.acked:
                got = rcp_client.assert_ok(conn.request("GET_INSTANCE", {"instance_id": w.instance}))
                assert got["last_wal_offset"] >= w.acked[-1][0]
        # And it takes writes again.
        r = rcp_client.assert_ok(conn.request("APPLY_EVENT", {"instance_id": writers[0].instance, "event": "GO"}))
        assert r["wal_offset"] == len(log) + 1
        return acked


def create_instances(server):
    with server.connect() as c:
        rcp_client.assert_ok(c.request("PUT_MACHINE", {"machine": "m", "version": 1, "definition": MACHINE}))
        for i in range(WRITERS):
            rcp_client.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "df-w%d" % i, "machine": "m",
                                                               "version": 1}))


def fill_under_load(server):
    writers = [Writer(server, i) for i in range(WRITERS)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=LOAD_SECONDS + 20)
        assert not w.is_alive(), "writer did not finish"
    rc = server.wait(EXIT_WAIT)
    assert rc is not None, "the server was still running %.0f s after the disk filled\n%s" % (
        EXIT_WAIT, server.output())
    return writers, rc


def assert_stopped_on_storage_error(server, writers, rc):
    out = server.stdout_text() + server.stderr_text()
    assert rc == EXIT_RUNTIME_ERROR, "exit status %r (negative: killed by a signal)\n%s" % (rc, server.output())
    assert "storage failure" in out, server.output()
    assert "No space left on device" in out, server.output()
    for w in writers:
        for e in w.errors:
            assert e["code"] == "WAL_IO_ERROR", e
            assert "storage error" in e["message"], e
    assert sum(len(w.acked) for w in writers) > WRITERS, "too little load to mean anything"


def test_disk_full_under_load_stops_the_server_and_loses_nothing_acknowledged(small_fs):
    fs = small_fs(FULL_LOAD_FS_MB)
    server = fs.server("df-0").start()
    create_instances(server)
    writers, rc = fill_under_load(server)
    assert_stopped_on_storage_error(server, writers, rc)

    # Still full: a restart is refused cleanly (74), it does not crash or start half-way.
    assert_refused_for_no_space(run_rstmdbd(fs.start_args()))
    # Space back: remount bigger.
    fs.resize(256)
    again = fs.server("df-1").start()
    check_acknowledged(again, writers)
    assert again.stop() == 0, again.output()


def test_disk_full_then_a_filler_file_deleted(small_fs):
    fs = small_fs(64)
    server = fs.server("df-0").start()
    create_instances(server)
    # Leave about 12 MiB: the load fills that.
    filler = fs.mount / "filler"
    with open(filler, "wb") as f:
        f.write(os.urandom(1 << 20) * 48)
    writers, rc = fill_under_load(server)
    assert_stopped_on_storage_error(server, writers, rc)
    filler.unlink()
    again = fs.server("df-1").start()
    check_acknowledged(again, writers)
    assert again.stop() == 0, again.output()


def assert_refused_for_no_space(result):
    out = (result.stdout + result.stderr).decode("utf-8", "replace")
    assert result.returncode == EXIT_IO, "exit status %r (negative: a signal), expected 74\n%s" % (
        result.returncode, out)
    assert "No space left on device" in out, out
    return out


def test_start_on_a_full_file_system_exits_74(small_fs):
    fs = small_fs(8)
    fs.fill()
    result = run_rstmdbd(fs.start_args())
    assert_refused_for_no_space(result)


def test_start_with_existing_data_on_a_full_file_system_exits_74_then_recovers(small_fs):
    fs = small_fs(32)
    server = fs.server("df-0").start()
    create_instances(server)
    writer = Writer(server, 0)
    with server.connect() as c:
        for n in range(20):
            r = rcp_client.assert_ok(c.request("APPLY_EVENT", {"instance_id": writer.instance, "event": "GO",
                                                                "payload": {"n": n}}))
            writer.acked.append((r["wal_offset"], n))
    assert server.stop() == 0, server.output()
    filler = fs.fill()
    assert_refused_for_no_space(run_rstmdbd(fs.start_args()))
    filler.unlink()
    again = fs.server("df-1").start()
    check_acknowledged(again, [writer])
    assert again.stop() == 0, again.output()
