"""Helpers for the test_bounds_* modules: process memory from /proc, a log with multi-megabyte
entries, and fast JSONL streams for replies too large for the strict client's pure-Python
checks (whole-frame CRC and compactness scans cost seconds per 16 MB)."""

import json
import threading
import time

import rcp_client as rc

MIB = 1024 * 1024
# The largest reply frame (protocol.md §4): a 16 MiB payload plus the RCPX header.
MAX_REPLY_FRAME = 16 * MIB + 18
# What a started write reserves of max_write_buffer_bytes (server/session.cpp).
WRITE_REPLY_RESERVATION = 4 * MIB
# Reply bytes the kernel can take off the server's hands for a peer that does not read
# (net.ipv4.tcp_wmem max on Debian); they leave the connection's budget.
KERNEL_SEND_BUFFER = 4 * MIB

TICK_DEF = {"states": ["s"], "initial": "s",
            "transitions": [{"from": "s", "event": "TICK", "to": "s"}]}


def proc_status(pid, key):
    """A size field of /proc/<pid>/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no %s in /proc/%d/status" % (key, pid))


def rss(pid):
    return proc_status(pid, "VmRSS")


class JsonlStream:
    """Pipelined JSONL requests and replies on one connection, checking envelopes and ids but
    not scanning payload bytes one by one."""

    def __init__(self, srv, timeout=30.0, rcvbuf=None):
        self.conn = srv.connect("jsonl", timeout=timeout, rcvbuf=rcvbuf)
        self.last_size = 0  # bytes of the last reply received

    def close(self):
        self.conn.close()

    def send(self, op, params, rid):
        self.conn.send_raw(rc.encode_jsonl(rc.make_request(op, params, id=rid)))

    def recv(self, timeout=None):
        c = self.conn
        deadline = time.monotonic() + (c.timeout if timeout is None else timeout)
        start = 0
        while True:
            nl = c.buf.find(b"\n", start)
            if nl >= 0:
                break
            start = len(c.buf)
            c._fill(deadline)
        payload = bytes(c.buf[:nl])
        del c.buf[:nl + 1]
        self.last_size = len(payload) + 1
        return rc.validate_response(rc.Message(json.loads(payload)))

    def call(self, op, params, rid="r"):
        self.send(op, params, rid)
        msg = self.recv()
        assert msg["id"] == rid, msg
        return rc.assert_ok(msg)


def fill_log(srv, machine="t", instance="i", entries=20, payload_bytes=MIB):
    """`entries` APPLY_EVENTs whose payload (and so ctx) is ~payload_bytes: a log of roughly
    2 * entries * payload_bytes, several full WAL_READ pages."""
    s = JsonlStream(srv)
    try:
        s.call("PUT_MACHINE", {"machine": machine, "version": 1, "definition": TICK_DEF})
        s.call("CREATE_INSTANCE", {"instance_id": instance, "machine": machine, "version": 1})
        blob = "x" * payload_bytes
        for i in range(entries):
            s.call("APPLY_EVENT", {"instance_id": instance, "event": "TICK",
                                   "payload": {"blob": blob, "n": i}}, rid="a%d" % i)
    finally:
        s.close()


class Pinger:
    """Another client that PINGs every 50 ms and records the worst round trip."""

    def __init__(self, srv):
        self.conn = srv.connect(timeout=10)
        self.worst = 0.0
        self.count = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                start = time.monotonic()
                self.conn.ping()
                self.worst = max(self.worst, time.monotonic() - start)
                self.count += 1
                time.sleep(0.05)
        except Exception as e:  # reported by stop()
            self.error = e

    def stop(self):
        self._stop.set()
        self._thread.join(15)
        self.conn.close()
        assert self.error is None, "the other client failed: %r" % (self.error,)
        assert self.count > 0
        return self.worst


def sample_peak_rss(pid, seconds, interval=0.05):
    peak = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        peak = max(peak, rss(pid))
        time.sleep(interval)
    return peak


def wait_for_line(srv, fragment, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in srv.stdout_text().splitlines():
            if fragment in line:
                return line
        time.sleep(0.05)
    raise AssertionError("no log line with %r within %.0f s\n%s" % (fragment, timeout, srv.output()))


def sanitized(pid=None):
    """True when the server binary runs with ASan (its RSS bounds do not hold: shadow memory and
    the quarantine of freed blocks). Decided from the binary ($RSTMDBD), since a test's pid may
    be a wrapper that sets limits."""
    import subprocess
    from conftest import binary_path
    out = subprocess.run(["ldd", str(binary_path())], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         timeout=30).stdout
    return b"libasan" in out
