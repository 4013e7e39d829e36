"""Work whose cost a client can make large stays bounded (issue: bounded under load and abuse).

FLUSH_ALL is one range deletion per column family, not one delete per key staged in one batch;
while it runs the server keeps answering; its memory does not grow with the data it removes.
LIST_INSTANCES reads what its page needs: a cursor pages in O(limit), tombstones cost nothing.
"""

import json
import socket
import threading
import time

from data_helpers import DB, restart

FIVE_STATES = {"states": ["s0", "s1", "s2", "s3", "s4"], "initial": "s0",
               "transitions": [{"from": "s%d" % i, "event": "NEXT", "to": "s%d" % ((i + 1) % 5)}
                               for i in range(5)]}


def bulk_create(srv, machine, count, prefix="bulk", batch=100, window=32, ctx=None):
    """CREATE_INSTANCE x count through pipelined atomic BATCHes over JSONL (no CRC in Python)."""
    sock = socket.create_connection((srv.host, srv.port), timeout=60)
    reader = sock.makefile("rb")
    try:
        def recv():
            msg = json.loads(reader.readline())
            assert msg.get("status") == "ok", msg
            return msg

        sent = received = 0
        for b in range((count + batch - 1) // batch):
            ops = [{"op": "CREATE_INSTANCE",
                    "params": {"instance_id": "%s-%08d" % (prefix, i), "machine": machine, "version": 1,
                               "initial_ctx": ctx if ctx is not None else {"n": i}}}
                   for i in range(b * batch, min((b + 1) * batch, count))]
            sock.sendall(json.dumps({"type": "request", "id": str(b), "op": "BATCH",
                                     "params": {"mode": "atomic", "ops": ops}},
                                    separators=(",", ":")).encode() + b"\n")
            sent += 1
            while sent - received >= window:
                recv()
                received += 1
        while received < sent:
            recv()
            received += 1
    finally:
        sock.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class PingProbe(threading.Thread):
    """PINGs on its own connection until stopped; records every round trip."""

    def __init__(self, srv):
        super().__init__(daemon=True)
        self.db = DB(srv, timeout=30)
        self.stop = threading.Event()
        self.latencies = []
        self.error = None

    def run(self):
        try:
            while not self.stop.is_set():
                t0 = time.monotonic()
                self.db.ok("PING")
                self.latencies.append(time.monotonic() - t0)
        except Exception as e:  # reported by the test
            self.error = e
        finally:
            self.db.close()


def test_flush_all_of_100k_instances_is_one_range_delete_per_family(server_factory):
    srv = server_factory(["--set", "storage.fsync_policy=never", "--set", "storage.allow_flush_all=true"])
    with DB(srv, timeout=60) as db:
        db.put_machine("bulk", 1, FIVE_STATES)
        bulk_create(srv, "bulk", 100_000)
        assert db.ok("LIST_INSTANCES", {"limit": 0})["total"] == 100_000
        db.apply("bulk-00000007", "NEXT", idempotency_key="k")
        db.ok("SNAPSHOT_INSTANCE", {"instance_id": "bulk-00000008"})
        rss_before = rss_kib(srv.proc.pid)
        probe = PingProbe(srv)
        probe.start()
        time.sleep(0.2)  # the probe is pinging before FLUSH_ALL starts
        r = db.ok("FLUSH_ALL")
        probe.stop.set()
        probe.join(30)
        rss_after = rss_kib(srv.proc.pid)
        assert probe.error is None, probe.error
        assert r == {"flushed": True, "instances_removed": 100_000, "machines_removed": 1}
        assert probe.latencies, "the probe never got a PING through"
        assert max(probe.latencies) < 0.25, "PING took %.0f ms during FLUSH_ALL" % (max(probe.latencies) * 1000)
        # Staging a delete per key (five keys per instance) grew the server by ~100 MB here.
        assert rss_after - rss_before < 32 * 1024, (rss_before, rss_after)
        db.err("GET_INSTANCE", {"instance_id": "bulk-00000001"}, "INSTANCE_NOT_FOUND")
        db.err("GET_MACHINE", {"machine": "bulk", "version": 1}, "MACHINE_NOT_FOUND")
        assert db.ok("LIST_INSTANCES", {}) == {"instances": [], "total": 0, "has_more": False}
        # The old incarnation's idempotency record went too: the same key applies afresh.
        db.put_machine("bulk", 1, FIVE_STATES)
        db.create("bulk-00000007", "bulk", 1)
        assert db.apply("bulk-00000007", "NEXT", idempotency_key="k")["applied"] is True
    srv = restart(server_factory, srv)
    with DB(srv) as db:
        listed = db.ok("LIST_INSTANCES", {})
        assert listed["total"] == 1 and [i["id"] for i in listed["instances"]] == ["bulk-00000007"]
        db.err("SNAPSHOT_INSTANCE", {"instance_id": "bulk-00000008"}, "INSTANCE_NOT_FOUND")


def test_list_instances_cursor_pages_over_the_wire(server_factory):
    """LIST_INSTANCES takes an opaque `cursor` (a previous page's `next_cursor`): the pages
    cover every match once, in id order; `offset` still works; a bad cursor names the field."""
    srv = server_factory(["--set", "storage.fsync_policy=never"])
    with DB(srv) as db:
        db.put_machine("c", 1, FIVE_STATES)
        bulk_create(srv, "c", 1000, prefix="cur")
        for i in range(0, 1000, 3):
            db.delete("cur-%08d" % i)
        expected = ["cur-%08d" % i for i in range(1000) if i % 3]
        seen, params = [], {"machine": "c", "limit": 64}
        for _ in range(100):
            page = db.ok("LIST_INSTANCES", params)
            assert page["total"] == len(expected)
            seen += [i["id"] for i in page["instances"]]
            if not page["has_more"]:
                assert "next_cursor" not in page
                break
            params = {"machine": "c", "limit": 64, "cursor": page["next_cursor"]}
        assert seen == expected
        by_offset = db.ok("LIST_INSTANCES", {"limit": 5, "offset": 10})
        assert [i["id"] for i in by_offset["instances"]] == expected[10:15]
        e = db.err("LIST_INSTANCES", {"cursor": "garbage"}, "BAD_REQUEST")
        assert e["details"] == {"field": "cursor"}, e
