"""SNAPSHOT_INSTANCE, WAL_READ, WAL_STATS, COMPACT, FLUSH_ALL and the change log
(operations.md §11-14, §18, §25)."""

import time

import pytest

import rcp_client as rc
from data_helpers import (COMPACT_KEYS, DB, HEX8_RE, IO_KEYS, ORDER_DEF, SIMPLE_DEF,  # noqa: F401,F811
                          STATS_KEYS, TICK_DEF, UUID4_RE, assert_param_error,
                          check_entry_shape, check_timestamp, check_wal_read_result, db,
                          dump_ordered, is_int, now_ms, sdb, uniq)

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

EMPTY_READ = {"records": [], "next_offset": 0, "entries": [], "hasMore": False, "nextOffset": 0}
RETAIN_NONE = ["--set", "compaction.retain_entries=0", "--set", "compaction.retain_secs=0"]
FLUSH_ON = ["--set", "storage.allow_flush_all=true"]


# ---- a populated log, read-only --------------------------------------------------------

@pytest.fixture(scope="module")
def wal(module_server_factory):
    srv = module_server_factory()
    d = DB(srv)
    t0 = now_ms()
    d.put_machine("order", 1, ORDER_DEF)                                              # 1
    d.ok("CREATE_INSTANCE", {"instance_id": "o1", "machine": "order", "version": 1,
                             "initial_ctx": {"amount": 5}, "idempotency_key": "ck"})  # 2
    d.apply("o1", "PAY", {"p": 1}, event_id="e1", idempotency_key="ak")               # 3
    d.apply("o1", "SHIP")                                                             # 4
    d.delete("o1", idempotency_key="dk")                                              # 5
    d.t0, d.t1 = t0, now_ms()
    yield d
    d.close()


def test_wal_read_entries(wal):
    r = wal.wal_read()
    check_wal_read_result(r)
    assert [x["offset"] for x in r["records"]] == [1, 2, 3, 4, 5]
    assert r["next_offset"] == 6 and r["hasMore"] is False
    es = [x["entry"] for x in r["records"]]
    for e in es:
        check_entry_shape(e)
        check_timestamp(e["timestamp"], wal.t0, wal.t1)
    assert [e["timestamp"] for e in es] == sorted(e["timestamp"] for e in es)
    assert list(es[0].items())[:-1] == [("type", "put_machine"), ("machine", "order"),
                                        ("version", 1), ("definition_hash", "%s" % es[0]["definition_hash"]),
                                        ("definition", ORDER_DEF)]
    assert HEX8_RE.match(es[0]["definition_hash"])
    assert dump_ordered(es[0]["definition"]) == dump_ordered(ORDER_DEF)
    assert list(es[1].items())[:-1] == [("type", "create_instance"), ("instance_id", "o1"),
                                        ("machine", "order"), ("version", 1),
                                        ("initial_state", "created"), ("initial_ctx", {"amount": 5}),
                                        ("idempotency_key", "ck")]
    assert list(es[2].items())[:-1] == [("type", "apply_event"), ("instance_id", "o1"),
                                        ("machine", "order"), ("version", 1), ("event", "PAY"),
                                        ("from_state", "created"), ("to_state", "paid"),
                                        ("payload", {"p": 1}), ("ctx", {"amount": 5, "p": 1}),
                                        ("event_id", "e1"), ("idempotency_key", "ak")]
    assert list(es[3].items())[:-1] == [("type", "apply_event"), ("instance_id", "o1"),
                                        ("machine", "order"), ("version", 1), ("event", "SHIP"),
                                        ("from_state", "paid"), ("to_state", "shipped"),
                                        ("payload", {}), ("ctx", {"amount": 5, "p": 1})]
    assert list(es[4].items())[:-1] == [("type", "delete_instance"), ("instance_id", "o1"),
                                        ("machine", "order"), ("version", 1),
                                        ("idempotency_key", "dk")]
    # the raw bytes: type first, timestamp last, compact
    msg = wal.call("WAL_READ", {"from_offset": 5, "limit": 1})
    assert (b'"entry":{"type":"delete_instance","instance_id":"o1","machine":"order","version":1,'
            b'"idempotency_key":"dk","timestamp":') in msg.payload


def test_wal_read_from_offset_and_limit(wal):
    def offs(**p):
        r = wal.wal_read(**p)
        fo = p.get("from_offset")
        if fo is None:
            fo = p.get("fromOffset")
        check_wal_read_result(r, int(fo or 0))
        return [x["offset"] for x in r["records"]], r["next_offset"], r["hasMore"]

    assert offs(from_offset=2, limit=1) == ([2], 3, True)
    assert offs(from_offset=1, limit=2) == ([1, 2], 3, True)
    assert offs(from_offset=4) == ([4, 5], 6, False)
    assert offs(from_offset=5, limit=1) == ([5], 6, False)
    assert offs(from_offset=0, limit=5) == ([1, 2, 3, 4, 5], 6, False)
    assert offs(from_offset=6) == ([], 6, False)
    assert offs(from_offset=1000) == ([], 1000, False)
    assert offs(fromOffset=3) == ([3, 4, 5], 6, False)
    assert offs(from_offset=2, fromOffset=4, limit=1) == ([2], 3, True)
    assert offs(from_offset="3") == ([3, 4, 5], 6, False)
    assert offs(fromOffset="4") == ([4, 5], 6, False)
    assert offs(from_offset="0") == ([1, 2, 3, 4, 5], 6, False)
    assert offs(from_offset="18446744073709551615") == ([], 18446744073709551615, False)
    assert offs(from_offset=None) == ([1, 2, 3, 4, 5], 6, False)
    assert offs(from_offset=18446744073709551615) == ([], 18446744073709551615, False)
    assert offs(limit=0) == ([], 0, True)
    assert offs(from_offset=3, limit=0) == ([], 3, True)
    assert offs(from_offset=6, limit=0) == ([], 6, False)
    assert offs(limit=None) == ([1, 2, 3, 4, 5], 6, False)
    assert offs(limit=4294967295) == ([1, 2, 3, 4, 5], 6, False)
    r = wal.wal_read(from_offset=1, limit=1)
    assert list(r.keys()) == ["records", "next_offset", "entries", "hasMore", "nextOffset"]


def test_wal_read_param_errors(wal):
    for bad in ("abc", "-1", "1.5", "", " 1", "1e3", "+1", "0x10", "18446744073709551616",
                -1, 1.5, True, [], {}):
        assert_param_error(wal.call("WAL_READ", {"from_offset": bad}), "from_offset", "type_or_value")
    for bad in ("1.0", "18446744073709551616", "-0.0"):
        msg = wal.call_raw_params("WAL_READ", '{"from_offset":%s}' % bad)
        assert_param_error(msg, "from_offset", "type_or_value")
    e = wal.err("WAL_READ", {"fromOffset": "x"}, "BAD_REQUEST")
    assert e["details"]["field"] in ("from_offset", "fromOffset"), e
    for bad in ("1", -1, 1.5, 4294967296):
        assert_param_error(wal.call("WAL_READ", {"limit": bad}), "limit", "type_or_value")


def test_wal_reads_write_nothing(wal):
    before = wal.stats()
    wal.wal_read()
    wal.ok("GET_MACHINE", {"machine": "order", "version": 1})
    wal.err("GET_INSTANCE", {"instance_id": "o1"}, "INSTANCE_NOT_FOUND")
    after = wal.stats()
    assert after["latest_offset"] == before["latest_offset"] == 5
    assert after["io_stats"]["writes"] == before["io_stats"]["writes"]


def test_wal_read_empty_log(db):
    for params in (None, {}, {"from_offset": 0}, {"limit": 10}):
        assert db.ok("WAL_READ", params) == EMPTY_READ
    msg = db.call("WAL_READ")
    assert msg.payload.endswith(b'"result":{"records":[],"next_offset":0,"entries":[],'
                                b'"hasMore":false,"nextOffset":0}}'), msg.payload
    assert db.wal_read(from_offset=5) == dict(EMPTY_READ, next_offset=5, nextOffset=5)
    assert db.wal_read(from_offset=1, limit=0) == dict(EMPTY_READ, next_offset=1, nextOffset=1)


def test_wal_read_default_limit_and_clamp(server_factory):
    srv = server_factory(["--set", "storage.fsync_policy=never"])
    with DB(srv, timeout=30) as d:
        d.put_machine("t", 1, TICK_DEF)
        for b in range(100):
            ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": "i%d-%d" % (b, i),
                                                        "machine": "t", "version": 1}}
                   for i in range(100)]
            res = d.ok("BATCH", {"mode": "atomic", "ops": ops})["results"]
            assert res[-1]["result"]["wal_offset"] == 1 + (b + 1) * 100
        assert d.latest() == 10001
        r = d.wal_read()
        assert [x["offset"] for x in r["records"]] == list(range(1, 101))
        assert r["next_offset"] == 101 and r["hasMore"] is True
        r = d.wal_read(limit=20000)
        assert len(r["records"]) == 10000
        assert r["records"][0]["offset"] == 1 and r["records"][-1]["offset"] == 10000
        assert r["next_offset"] == 10001 and r["nextOffset"] == 10001 and r["hasMore"] is True
        r = d.wal_read(from_offset=r["next_offset"], limit=4294967295)
        assert [x["offset"] for x in r["records"]] == [10001] and r["hasMore"] is False
        assert [x["offset"] for x in d.wal_read(from_offset=9990, limit=10)["records"]] == \
            list(range(9990, 10000))


# ---- WAL_STATS -------------------------------------------------------------------------

def test_wal_stats_empty_then_counts(db):
    s0 = db.stats()
    assert list(s0.keys()) == ["entry_count", "segment_count", "total_size_bytes", "io_stats"]
    assert s0["entry_count"] == 0
    assert is_int(s0["segment_count"]) and s0["segment_count"] >= 1
    assert is_int(s0["total_size_bytes"]) and s0["total_size_bytes"] >= 0
    assert list(s0["io_stats"].keys()) == IO_KEYS
    assert all(is_int(v) and v >= 0 for v in s0["io_stats"].values())
    msg = db.call("WAL_STATS", {"junk": 1})
    assert "latest_offset" not in rc.assert_ok(msg) and b"null" not in msg.payload
    db.put_machine("order", 1, SIMPLE_DEF)
    db.create("a", "order", 1)
    db.apply("a", "PAY")
    s1 = db.stats()
    assert list(s1.keys()) == STATS_KEYS
    assert (s1["entry_count"], s1["latest_offset"], s1["oldest_offset"]) == (3, 3, 1)
    io0, io1 = s0["io_stats"], s1["io_stats"]
    assert io1["writes"] - io0["writes"] == 3
    assert io1["bytes_written"] > io0["bytes_written"]
    assert io1["fsyncs"] - io0["fsyncs"] >= 3, (io0, io1)   # every_write, sequential writes
    # operations that write nothing
    db.put_machine("order", 1, SIMPLE_DEF)
    db.get("a")
    db.ok("SNAPSHOT_INSTANCE", {"instance_id": "a"})
    db.err("APPLY_EVENT", {"instance_id": "a", "event": "PAY"}, "INVALID_TRANSITION")
    s2 = db.stats()
    assert s2["latest_offset"] == 3 and s2["io_stats"]["writes"] == io1["writes"]
    # reads are counted
    db.wal_read()
    s3 = db.stats()
    assert s3["io_stats"]["reads"] > s2["io_stats"]["reads"]
    assert s3["io_stats"]["bytes_read"] > s2["io_stats"]["bytes_read"]
    # an atomic batch appends one entry per state-changing element
    ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": "b%d" % i, "machine": "order",
                                                "version": 1}} for i in range(3)]
    db.ok("BATCH", {"mode": "atomic", "ops": ops + [{"op": "GET_INSTANCE",
                                                     "params": {"instance_id": "a"}}]})
    s4 = db.stats()
    assert s4["io_stats"]["writes"] - s3["io_stats"]["writes"] == 3
    assert (s4["entry_count"], s4["latest_offset"], s4["oldest_offset"]) == (6, 6, 1)


# ---- SNAPSHOT_INSTANCE ---------------------------------------------------------------

def _snapshot_doc(snapshot_id, g, created_at):
    d = {"snapshot_id": snapshot_id, "instance_id": g["instance_id"], "machine": g["machine"],
         "version": g["version"], "state": g["state"], "ctx": g["ctx"]}
    if "last_event_id" in g:
        d["last_event_id"] = g["last_event_id"]
    d["wal_offset"] = g["last_wal_offset"]
    d["created_at"] = created_at
    return rc.dumps(d)


def _check_snapshot(r, g, t0, t1):
    assert list(r.keys()) == ["instance_id", "snapshot_id", "wal_offset", "size_bytes", "checksum"]
    assert r["instance_id"] == g["instance_id"]
    assert r["snapshot_id"].startswith("snap-") and UUID4_RE.match(r["snapshot_id"][5:]), r
    assert r["wal_offset"] == g["last_wal_offset"]
    assert HEX8_RE.match(r["checksum"]), r
    # The stored document is not visible; rebuild it (§11 key order, compact JSON) for every
    # plausible created_at and require that one matches both size_bytes and checksum.
    doc = _snapshot_doc(r["snapshot_id"], g, t0)
    assert r["size_bytes"] == len(doc), (r, doc)
    cands = list(range(t0 - 1, t1 + 2)) + [g["created_at"], g["updated_at"]]
    assert any("%08x" % rc.crc32c(_snapshot_doc(r["snapshot_id"], g, c)) == r["checksum"]
               for c in cands), (r, doc)


def test_snapshot_instance(db):
    db.put_machine("order", 1, ORDER_DEF)
    db.create("order-001", "order", 1, {"customer": "alice", "amount": 99.99})
    db.apply("order-001", "PAY", event_id="evt-1")
    g = db.get("order-001")
    before = db.stats()
    t0 = now_ms()
    r = db.ok("SNAPSHOT_INSTANCE", {"instance_id": "order-001"})
    t1 = now_ms()
    _check_snapshot(r, g, t0, t1)
    assert r["wal_offset"] == 3
    # no log entry
    after = db.stats()
    assert after["latest_offset"] == before["latest_offset"] == 3
    assert after["io_stats"]["writes"] == before["io_stats"]["writes"]
    # alias, a new snapshot id each time; without last_event_id
    db.apply("order-001", "SHIP")
    g = db.get("order-001")
    t0 = now_ms()
    r2 = db.ok("SNAPSHOT_INSTANCE", {"id": "order-001"})
    t1 = now_ms()
    _check_snapshot(r2, g, t0, t1)
    assert r2["snapshot_id"] != r["snapshot_id"] and r2["wal_offset"] == 4
    # one snapshot per instance
    c = db.ok("COMPACT")
    assert c["total_snapshots"] == 1
    # errors
    db.err("SNAPSHOT_INSTANCE", {"instance_id": "nope"}, "INSTANCE_NOT_FOUND",
           "instance not found: nope", details={"instance_id": "nope"})
    db.delete("order-001")
    db.err("SNAPSHOT_INSTANCE", {"instance_id": "order-001"}, "INSTANCE_NOT_FOUND",
           "instance not found: order-001", details={"instance_id": "order-001"})
    # delete removed the snapshot
    assert db.ok("COMPACT")["total_snapshots"] == 0
    assert_param_error(db.call("SNAPSHOT_INSTANCE", None), "instance_id")
    assert_param_error(db.call("SNAPSHOT_INSTANCE", {"instance_id": 3}), "instance_id", "type")


def test_snapshot_unicode_ctx_size(sdb):
    m = uniq("snap")
    sdb.put_machine(m, 1, TICK_DEF)
    iid = uniq("s\u00e9")
    sdb.create(iid, m, 1, {"k\u00e9y": "v\u00e4l\U0001F600", "n": [1, None, True, {"z": "q\"\\"}]})
    g = sdb.get(iid)
    t0 = now_ms()
    r = sdb.ok("SNAPSHOT_INSTANCE", {"instance_id": iid})
    _check_snapshot(r, g, t0, now_ms())


# ---- COMPACT ------------------------------------------------------------------------------

def _populate(d):
    d.put_machine("order", 2, ORDER_DEF)                  # 1
    d.create("a", "order", 2, {"amount": 1})              # 2
    d.apply("a", "PAY", event_id="x")                     # 3
    d.create("b", "order", 2)                             # 4
    d.apply("b", "CANCEL")                                # 5
    d.create("c", "order", 2)                             # 6
    d.delete("c")                                         # 7


def _check_compact(c):
    assert list(c.keys()) == COMPACT_KEYS, c
    assert all(is_int(v) and v >= 0 for v in c.values()), c
    assert c["segments_deleted"] == c["entries_trimmed"]
    return c


def test_compact_default_retention_trims_nothing(db):
    _populate(db)
    ga = db.get("a")
    c = _check_compact(db.ok("COMPACT"))
    assert (c["snapshots_created"], c["entries_trimmed"], c["total_snapshots"]) == (0, 0, 0)
    s = db.stats()
    assert c["wal_segments"] == s["segment_count"]
    assert (s["entry_count"], s["latest_offset"], s["oldest_offset"]) == (7, 7, 1)
    assert [x["offset"] for x in db.wal_all()] == list(range(1, 8))
    assert db.get("a") == ga
    _check_compact(db.ok("COMPACT", {"force_snapshot": False}))
    assert_param_error(db.call("COMPACT", {"force_snapshot": "true"}), "force_snapshot", "type")
    assert_param_error(db.call("COMPACT", {"force_snapshot": 1}), "force_snapshot", "type")


def test_compact_trims_with_zero_retention(server_factory):
    srv = server_factory(RETAIN_NONE)
    with DB(srv) as d:
        _populate(d)
        before = {i: d.get(i) for i in ("a", "b")}
        mdef = d.ok("GET_MACHINE", {"machine": "order", "version": 2})
        c = _check_compact(d.ok("COMPACT"))
        assert c["entries_trimmed"] == 6 and c["snapshots_created"] == 0
        s = d.stats()
        assert (s["entry_count"], s["latest_offset"], s["oldest_offset"]) == (7, 7, 7)
        r = d.wal_read()
        check_wal_read_result(r)
        assert [x["offset"] for x in r["records"]] == [7] and r["hasMore"] is False
        assert r["records"][0]["entry"]["type"] == "delete_instance"
        for f in (1, 3, 6, 7):
            assert [x["offset"] for x in d.wal_read(from_offset=f)["records"]] == [7]
        assert d.wal_read(from_offset=8)["records"] == []
        assert d.wal_read(limit=0) == {"records": [], "next_offset": 0, "entries": [],
                                       "hasMore": True, "nextOffset": 0}
        # state is unaffected
        assert {i: d.get(i) for i in ("a", "b")} == before
        assert d.ok("GET_MACHINE", {"machine": "order", "version": 2}) == mdef
        d.err("GET_INSTANCE", {"instance_id": "c"}, "INSTANCE_NOT_FOUND")
        assert d.delete("c")["wal_offset"] == 7
        assert d.ok("LIST_INSTANCES")["total"] == 2
        # offsets continue
        assert d.apply("a", "SHIP")["wal_offset"] == 8
        c = _check_compact(d.ok("COMPACT"))
        assert c["entries_trimmed"] == 1
        # the latest entry is never trimmed
        c = _check_compact(d.ok("COMPACT"))
        assert c["entries_trimmed"] == 0
        s = d.stats()
        assert (s["entry_count"], s["latest_offset"], s["oldest_offset"]) == (8, 8, 8)
        assert [x["offset"] for x in d.wal_all()] == [8]


def test_compact_retain_entries(server_factory):
    srv = server_factory(["--set", "compaction.retain_entries=3", "--set", "compaction.retain_secs=0"])
    with DB(srv) as d:
        _populate(d)
        c = _check_compact(d.ok("COMPACT"))
        assert c["entries_trimmed"] == 4     # offsets <= 7 - 3
        s = d.stats()
        assert (s["entry_count"], s["latest_offset"], s["oldest_offset"]) == (7, 7, 5)
        assert [x["offset"] for x in d.wal_all()] == [5, 6, 7]
    # the age rule alone: everything is younger than a day, nothing is trimmed
    srv = server_factory(["--set", "compaction.retain_entries=0"])
    with DB(srv) as d:
        _populate(d)
        assert _check_compact(d.ok("COMPACT"))["entries_trimmed"] == 0
        assert d.stats()["oldest_offset"] == 1


def test_compact_force_snapshot(db):
    _populate(db)                      # live: a, b; c is a tombstone
    latest = db.latest()
    c = _check_compact(db.ok("COMPACT", {"force_snapshot": True}))
    assert (c["snapshots_created"], c["total_snapshots"]) == (2, 2)
    c = _check_compact(db.ok("COMPACT", {"force_snapshot": True}))
    assert (c["snapshots_created"], c["total_snapshots"]) == (0, 2)
    db.apply("a", "SHIP")
    c = _check_compact(db.ok("COMPACT", {"force_snapshot": True}))
    assert (c["snapshots_created"], c["total_snapshots"]) == (1, 2)
    db.create("d", "order", 2)
    db.ok("SNAPSHOT_INSTANCE", {"instance_id": "d"})
    c = _check_compact(db.ok("COMPACT", {"force_snapshot": True}))
    assert (c["snapshots_created"], c["total_snapshots"]) == (0, 3)
    db.delete("b")
    c = _check_compact(db.ok("COMPACT"))
    assert (c["snapshots_created"], c["total_snapshots"]) == (0, 2)
    # COMPACT wrote no entry
    assert db.latest() == latest + 3


def test_idempotency_ttl_expiry(server_factory):
    srv = server_factory(["--set", "storage.idempotency_ttl_secs=1"])
    with DB(srv) as d:
        d.put_machine("t", 1, TICK_DEF)
        c1 = d.ok("CREATE_INSTANCE", {"instance_id": "a", "machine": "t", "version": 1,
                                      "idempotency_key": "k"})
        a1 = d.apply("a", "TICK", idempotency_key="ak")
        assert d.ok("CREATE_INSTANCE", {"instance_id": "b", "machine": "t", "version": 1,
                                        "idempotency_key": "k"}) == c1
        time.sleep(2.3)   # past the 1 s TTL, whatever the clock granularity
        d.ok("COMPACT")
        c2 = d.ok("CREATE_INSTANCE", {"instance_id": "b", "machine": "t", "version": 1,
                                      "idempotency_key": "k"})
        assert c2 == {"instance_id": "b", "state": "s", "wal_offset": 4}
        a2 = d.apply("a", "TICK", idempotency_key="ak")
        assert a2["applied"] is True and a2["wal_offset"] == 5 != a1["wal_offset"]


# ---- FLUSH_ALL ------------------------------------------------------------------------------

def test_flush_all_disabled(db):
    db.put_machine("order", 1, SIMPLE_DEF)
    db.create("a", "order", 1)
    for params in (None, {}):
        e = db.err("FLUSH_ALL", params, "BAD_REQUEST",
                   "invalid request: FLUSH_ALL is disabled. Set storage.allow_flush_all=true "
                   "in config to enable.")
        assert e["retryable"] is False
    assert db.latest() == 2
    assert db.get("a")["state"] == "created"


def test_flush_all_enabled(server_factory):
    srv = server_factory(FLUSH_ON + ["--set", "storage.allow_instance_recreate=false"])
    with DB(srv) as d:
        d.put_machine("order", 1, SIMPLE_DEF)                                   # 1
        d.put_machine("order", 2, ORDER_DEF)                                    # 2
        d.put_machine("other", 1, TICK_DEF)                                     # 3
        d.ok("CREATE_INSTANCE", {"instance_id": "a", "machine": "order", "version": 1,
                                 "idempotency_key": "ck"})                      # 4
        d.create("b", "other", 1)                                               # 5
        d.create("dead", "other", 1)                                            # 6
        d.delete("dead")                                                        # 7
        d.apply("b", "TICK", idempotency_key="ak")                              # 8
        d.ok("SNAPSHOT_INSTANCE", {"instance_id": "a"})
        r = d.ok("FLUSH_ALL")
        assert list(r.items()) == [("flushed", True), ("instances_removed", 2),
                                   ("machines_removed", 3)]
        s = d.stats()
        assert (s["entry_count"], s["latest_offset"], s["oldest_offset"]) == (9, 9, 1)
        e = d.wal_read(from_offset=9)["records"][0]["entry"]
        check_entry_shape(e)
        assert list(e.items())[:-1] == [("type", "flush_all"), ("instances_removed", 2),
                                        ("machines_removed", 3)]
        for iid in ("a", "b", "dead"):
            d.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND",
                  "instance not found: %s" % iid, details={"instance_id": iid})
            d.err("DELETE_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND")
        for m, v in (("order", 1), ("order", 2), ("other", 1)):
            d.err("GET_MACHINE", {"machine": m, "version": v}, "MACHINE_NOT_FOUND",
                  "machine version not found: %s v%d" % (m, v), details={"machine": m, "version": v})
        assert d.ok("LIST_MACHINES") == {"items": []}
        assert d.ok("LIST_INSTANCES") == {"instances": [], "total": 0, "has_more": False}
        assert _check_compact(d.ok("COMPACT"))["total_snapshots"] == 0
        # history stays readable, offsets continue
        assert [x["offset"] for x in d.wal_all()] == list(range(1, 10))
        assert d.put_machine("order", 1, SIMPLE_DEF)["created"] is True
        assert d.latest() == 10
        # idempotency records are gone; the tombstone is purged (recreate is off here)
        c = d.ok("CREATE_INSTANCE", {"instance_id": "a2", "machine": "order", "version": 1,
                                     "idempotency_key": "ck"})
        assert c == {"instance_id": "a2", "state": "created", "wal_offset": 11}
        assert d.create("dead", "order", 1)["wal_offset"] == 12
        # flushing again
        r = d.ok("FLUSH_ALL", {})
        assert r == {"flushed": True, "instances_removed": 2, "machines_removed": 1}
        assert d.latest() == 13


@pytest.mark.parametrize("value", ["1", "true"])
def test_flush_all_enabled_by_env(server_factory, value):
    srv = server_factory(env={"RSTMDB_ALLOW_FLUSH_ALL": value})
    with DB(srv) as d:
        assert d.ok("FLUSH_ALL") == {"flushed": True, "instances_removed": 0, "machines_removed": 0}
        s = d.stats()
        assert (s["entry_count"], s["latest_offset"], s["oldest_offset"]) == (1, 1, 1)
        assert d.wal_read()["records"][0]["entry"]["type"] == "flush_all"
