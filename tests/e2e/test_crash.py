"""Crash safety: kill -9 under concurrent durable load loses no acknowledged write.

16 writer connections apply events and create instances under the default fsync policy
(every_write) while the server is SIGKILLed mid-load. After a restart on the same data
directory every acknowledged write must be there, the change log must be gap-free, and the
materialised state of every instance must equal what its log history says. Three rounds run
on the same data directory, so recovery of an already-recovered database is covered too.
It runs once per memtable (storage.memtable: ordered, skiplist): the WAL replay at each
restart rebuilds the memtables.
"""

import signal
import threading
import time

import pytest

import rcp_client
from conftest import ServerProcess

WRITERS = 16
ROUNDS = 3
# Each round is killed once every writer has this many acknowledged writes, or after
# LOAD_SECONDS, whichever is first; both bound the test.
ACKS_PER_WRITER = 300
LOAD_SECONDS = 6.0

CYCLE = {
    "states": ["s0", "s1", "s2", "s3", "s4"],
    "initial": "s0",
    "transitions": [{"from": "s%d" % i, "event": "NEXT", "to": "s%d" % ((i + 1) % 5)} for i in range(5)],
}


class Writer(threading.Thread):
    """Applies NEXT to its own instance and now and then creates a new one, recording
    every acknowledged write."""

    def __init__(self, server, index, round_no, stop):
        super().__init__(daemon=True)
        self.server, self.index, self.round_no, self.stop = server, index, round_no, stop
        self.instance = "crash-w%d" % index
        self.acked_applies = []   # (wal_offset, from_state, to_state)
        self.acked_creates = []   # (instance_id, wal_offset)
        self.error = None

    def run(self):
        try:
            conn = self.server.connect(timeout=10)
        except OSError as e:  # server already gone
            self.error = e
            return
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                if n % 5 == 0:
                    iid = "crash-r%d-w%d-%d" % (self.round_no, self.index, n)
                    r = conn.request("CREATE_INSTANCE", {"instance_id": iid, "machine": "cycle",
                                                         "version": 1, "initial_ctx": {"n": n}})
                    rcp_client.assert_ok(r)
                    self.acked_creates.append((iid, r["result"]["wal_offset"]))
                else:
                    r = conn.request("APPLY_EVENT", {"instance_id": self.instance, "event": "NEXT",
                                                     "payload": {"n": n, "w": self.index}})
                    rcp_client.assert_ok(r)
                    res = r["result"]
                    self.acked_applies.append((res["wal_offset"], res["from_state"], res["to_state"]))
        except (OSError, rcp_client.ConnectionClosed, rcp_client.ProtocolError) as e:
            # The kill cuts the connection; a request without a response is "unknown".
            self.error = e
        finally:
            conn.close()


def read_whole_log(conn):
    records = []
    offset = 0
    for _ in range(100000):
        r = conn.request("WAL_READ", {"from_offset": offset, "limit": 10000})
        rcp_client.assert_ok(r)
        batch = r["result"]["records"]
        records.extend(batch)
        if not r["result"]["hasMore"]:
            break
        offset = r["result"]["next_offset"]
    return records


def verify(server, writers_by_round):
    conn = server.connect(timeout=30)
    try:
        stats = conn.request("WAL_STATS", {})
        rcp_client.assert_ok(stats)
        records = read_whole_log(conn)
        offsets = [rec["offset"] for rec in records]
        assert offsets == list(range(1, len(offsets) + 1)), "log has a gap or starts late"
        assert offsets[-1] == stats["result"]["latest_offset"] == stats["result"]["entry_count"]
        by_offset = {rec["offset"]: rec["entry"] for rec in records}

        # Every acknowledged write is in the log, exactly as acknowledged.
        for writers in writers_by_round:
            for w in writers:
                for offset, from_state, to_state in w.acked_applies:
                    e = by_offset.get(offset)
                    assert e is not None, "acknowledged apply at offset %d lost" % offset
                    assert (e["type"], e["instance_id"], e["from_state"], e["to_state"]) == \
                        ("apply_event", w.instance, from_state, to_state)
                for iid, offset in w.acked_creates:
                    e = by_offset.get(offset)
                    assert e is not None and e["type"] == "create_instance" and e["instance_id"] == iid, \
                        "acknowledged create of %s at offset %d lost" % (iid, offset)

        # State and log agree: replay the log and compare with the materialised instances.
        expected = {}
        for rec in records:
            e = rec["entry"]
            if e["type"] == "create_instance":
                expected[e["instance_id"]] = (e["initial_state"], rec["offset"], e["initial_ctx"])
            elif e["type"] == "apply_event":
                expected[e["instance_id"]] = (e["to_state"], rec["offset"], e["ctx"])
        for iid, (state, offset, ctx) in expected.items():
            r = conn.request("GET_INSTANCE", {"instance_id": iid})
            rcp_client.assert_ok(r)
            got = r["result"]
            assert (got["state"], got["last_wal_offset"], got["ctx"]) == (state, offset, ctx), iid
        listed = conn.request("LIST_INSTANCES", {"limit": 0})
        rcp_client.assert_ok(listed)
        assert listed["result"]["total"] == len(expected)
    finally:
        conn.close()


def start_server(workdir, memtable, round_no):
    server = ServerProcess(workdir, extra_args=["--set", "storage.memtable=" + memtable],
                           name="crash-%d" % round_no).start()
    # The startup log names the memtable in use (before the listening line start() waits for).
    assert "storage: memtable %s " % memtable in server.stdout_text(), server.output()
    return server


@pytest.mark.parametrize("memtable", ["ordered", "skiplist"])
def test_kill9_under_load_loses_no_acknowledged_write(tmp_path, memtable):
    workdir = tmp_path / "crash"
    writers_by_round = []
    server = start_server(workdir, memtable, 0)
    try:
        with server.connect() as c:
            rcp_client.assert_ok(c.request("PUT_MACHINE", {"machine": "cycle", "version": 1, "definition": CYCLE}))
            for i in range(WRITERS):
                rcp_client.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "crash-w%d" % i,
                                                                   "machine": "cycle", "version": 1}))
        for round_no in range(ROUNDS):
            stop = threading.Event()
            writers = [Writer(server, i, round_no, stop) for i in range(WRITERS)]
            for w in writers:
                w.start()
            deadline = time.monotonic() + LOAD_SECONDS
            while time.monotonic() < deadline:
                if all(len(w.acked_applies) + len(w.acked_creates) >= ACKS_PER_WRITER for w in writers):
                    break
                time.sleep(0.01)
            # Mid-load: the writers are still sending when the process dies.
            server.proc.send_signal(signal.SIGKILL)
            server.wait(10)
            stop.set()
            for w in writers:
                w.join(timeout=15)
                assert not w.is_alive(), "writer thread did not finish"
            total = sum(len(w.acked_applies) + len(w.acked_creates) for w in writers)
            assert total > WRITERS, "too little load before the kill to mean anything (%d acks)" % total
            writers_by_round.append(writers)

            server = start_server(workdir, memtable, round_no + 1)
            verify(server, writers_by_round)
    finally:
        rc = server.stop()
        server.cleanup_tmp()
    assert rc == 0, server.output()
