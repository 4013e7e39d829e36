"""A write load and the read-back of a server's whole state, for backup tests: the e2e suite
(test_backup*.py) and the deployment tests (tests/deploy), which reach servers differently.
Anything with a `connect(timeout=...)` returning an rcp_client.Connection is a "server" here.
No pytest fixtures and no conftest imports, so both suites can import it.
"""

import threading
import time

import rcp_client as rc

CYCLE_DEF = {
    "states": ["s0", "s1", "s2", "s3", "s4"],
    "initial": "s0",
    "transitions": [{"from": "s%d" % i, "event": "NEXT", "to": "s%d" % ((i + 1) % 5)} for i in range(5)],
}


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
    raise AssertionError("WAL_READ did not finish")


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
