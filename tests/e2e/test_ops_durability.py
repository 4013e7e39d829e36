"""Restart persistence, authentication of data ops, pipelining and concurrent writers
(operations.md §1.2, §23, §25; protocol.md §7)."""

import threading
import time

import pytest

import rcp_client as rc
from data_helpers import DB, ORDER_DEF, SIMPLE_DEF, TICK_DEF, restart, uniq

RETAIN_NONE = ["--set", "compaction.retain_entries=0", "--set", "compaction.retain_secs=0"]


def _snapshot_state(d, ids):
    out = {"machines": d.ok("LIST_MACHINES"),
           "instances": d.ok("LIST_INSTANCES", {"limit": 1000}),
           "stats": {k: v for k, v in d.stats().items() if k in ("entry_count", "latest_offset",
                                                                  "oldest_offset")},
           "wal": d.wal_all(),
           "get": {}}
    for i in ids:
        msg = d.call("GET_INSTANCE", {"instance_id": i})
        out["get"][i] = dict(msg.get("result") or msg["error"])
    for m in out["machines"]["items"]:
        for v in m["versions"]:
            out["get"][(m["machine"], v)] = d.ok("GET_MACHINE", {"machine": m["machine"], "version": v})
    return out


def test_restart_preserves_everything(server_factory):
    srv = server_factory()
    with DB(srv) as d:
        d.put_machine("order", 1, ORDER_DEF)
        d.put_machine("order", 2, SIMPLE_DEF)
        d.put_machine("tick", 1, TICK_DEF)
        c_gen = d.ok("CREATE_INSTANCE", {"machine": "order", "version": 1, "idempotency_key": "ck",
                                         "initial_ctx": {"amount": 10, "n": {"z": 1, "a": [1.5, None]}}})
        gen = c_gen["instance_id"]
        a_pay = d.apply(gen, "PAY", {"paid": True}, event_id="evt-1", idempotency_key="ak")
        d.create("t1", "tick", 1, {"k": "v\u00e9"})
        d.apply("t1", "TICK")
        d.create("gone", "order", 2)
        del_r = d.delete("gone", idempotency_key="dk")
        d.ok("SNAPSHOT_INSTANCE", {"instance_id": "t1"})
        ids = [gen, "t1", "gone"]
        before = _snapshot_state(d, ids)
        latest = before["stats"]["latest_offset"]
        assert latest == 9
    srv2 = restart(server_factory, srv, ["--set", "storage.allow_instance_recreate=false"])
    with DB(srv2) as d:
        after = _snapshot_state(d, ids)
        assert after == before
        # io_stats count since process start
        assert d.stats()["io_stats"]["writes"] == 0
        # timestamps are persisted exactly
        assert after["get"][gen]["created_at"] == before["get"][gen]["created_at"]
        assert after["get"][gen]["updated_at"] == before["get"][gen]["updated_at"]
        assert rc.dumps(after["get"][gen]["ctx"]) == rc.dumps(before["get"][gen]["ctx"])
        # idempotency records survive
        assert d.ok("CREATE_INSTANCE", {"machine": "x", "version": 9, "idempotency_key": "ck"}) == c_gen
        assert d.apply(gen, "CANCEL", idempotency_key="ak") == dict(a_pay, applied=False)
        assert d.delete("gone", idempotency_key="dk") == del_r
        assert d.delete("gone") == del_r
        # the tombstone survives (recreate is off on this run)
        d.err("CREATE_INSTANCE", {"instance_id": "gone", "machine": "order", "version": 2},
              "INSTANCE_EXISTS", "instance already exists: gone")
        # the machine definitions are served as submitted and PUT is still idempotent
        assert d.put_machine("order", 1, ORDER_DEF)["created"] is False
        d.err("PUT_MACHINE", {"machine": "order", "version": 2, "definition": ORDER_DEF},
              "MACHINE_VERSION_EXISTS")
        assert d.latest() == latest
        # offsets continue
        r = d.apply("t1", "TICK")
        assert r["wal_offset"] == latest + 1
        assert d.create("new", "tick", 1)["wal_offset"] == latest + 2
        assert d.get("t1")["created_at"] == before["get"]["t1"]["created_at"]
        st = d.stats()
        assert (st["entry_count"], st["latest_offset"], st["oldest_offset"]) == (latest + 2,) * 2 + (1,)
        assert [x["offset"] for x in d.wal_all()] == list(range(1, latest + 3))
        c = d.ok("COMPACT")
        assert c["total_snapshots"] == 1


def test_restart_after_compaction_and_flush(server_factory):
    args = RETAIN_NONE + ["--set", "storage.allow_flush_all=true"]
    srv = server_factory(args)
    with DB(srv) as d:
        d.put_machine("tick", 1, TICK_DEF)
        d.create("a", "tick", 1)
        for _ in range(3):
            d.apply("a", "TICK")
        assert d.ok("COMPACT")["entries_trimmed"] == 4
        g = d.get("a")
    srv2 = restart(server_factory, srv, args)
    with DB(srv2) as d:
        st = d.stats()
        assert (st["entry_count"], st["latest_offset"], st["oldest_offset"]) == (5, 5, 5)
        assert [x["offset"] for x in d.wal_all()] == [5]
        assert d.get("a") == g
        assert d.ok("FLUSH_ALL") == {"flushed": True, "instances_removed": 1, "machines_removed": 1}
    srv3 = restart(server_factory, srv2, args)
    with DB(srv3) as d:
        d.err("GET_INSTANCE", {"instance_id": "a"}, "INSTANCE_NOT_FOUND")
        d.err("GET_MACHINE", {"machine": "tick", "version": 1}, "MACHINE_NOT_FOUND")
        st = d.stats()
        assert (st["entry_count"], st["latest_offset"]) == (6, 6)
        assert d.put_machine("tick", 1, TICK_DEF)["created"] is True
        assert d.latest() == 7


def test_restart_empty_database(server_factory):
    srv = server_factory()
    with DB(srv) as d:
        assert d.stats()["entry_count"] == 0
    srv2 = restart(server_factory, srv)
    with DB(srv2) as d:
        s = d.stats()
        assert s["entry_count"] == 0 and "latest_offset" not in s and "oldest_offset" not in s
        assert d.put_machine("m", 1, SIMPLE_DEF)["created"] is True
        assert d.latest() == 1


# ---- authentication -----------------------------------------------------------------

TOKEN = "my-secret-token"
TOKEN_HASH = "ea5add57437cbf20af59034d7ed17968dcc56767b41965fcc5b376d45db8b4a3"


def test_data_ops_need_auth(server_factory):
    srv = server_factory(["--set", "auth.required=true",
                          "--set", "auth.token_hashes=[%s]" % TOKEN_HASH])
    requests = [
        ("PUT_MACHINE", {"machine": "m", "version": 1, "definition": SIMPLE_DEF}),
        ("GET_MACHINE", {"machine": "m", "version": 1}),
        ("LIST_MACHINES", None),
        ("CREATE_INSTANCE", {"instance_id": "i", "machine": "m", "version": 1}),
        ("GET_INSTANCE", {"instance_id": "i"}),
        ("LIST_INSTANCES", {}),
        ("APPLY_EVENT", {"instance_id": "i", "event": "PAY"}),
        ("DELETE_INSTANCE", {"instance_id": "i"}),
        ("BATCH", {"ops": [{"op": "PUT_MACHINE", "params": {"machine": "m", "version": 1,
                                                             "definition": SIMPLE_DEF}}]}),
        ("BATCH", {"mode": "bogus"}),
        ("SNAPSHOT_INSTANCE", {"instance_id": "i"}),
        ("WAL_READ", {}),
        ("WAL_STATS", None),
        ("COMPACT", {"force_snapshot": True}),
        ("FLUSH_ALL", None),
        ("GET_INSTANCE", {"instance_id": 5}),        # auth comes before parameter types
    ]
    with DB(srv) as d:
        for op, params in requests:
            e = d.err(op, params, "UNAUTHORIZED", "authentication required")
            assert e["retryable"] is False
            assert "details" not in e
        assert rc.assert_ok(d.conn.auth(TOKEN)) == {"authenticated": True}
        s = d.stats()
        assert s["entry_count"] == 0 and "latest_offset" not in s   # nothing ran before AUTH
        assert d.put_machine("m", 1, SIMPLE_DEF)["created"] is True
        assert d.create("i", "m", 1)["wal_offset"] == 2
    # another connection is not authenticated by the first one
    with DB(srv) as d2:
        d2.err("GET_INSTANCE", {"instance_id": "i"}, "UNAUTHORIZED", "authentication required")


# ---- pipelining ----------------------------------------------------------------------

@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_pipelined_create_apply_get(server, framing):
    m = uniq("pipe")
    with DB(server) as d:
        d.put_machine(m, 1, ORDER_DEF)
    with server.connect(framing) as c:
        n = 30
        reqs = []
        for k in range(n):
            iid = "%s-%d" % (m, k)
            reqs += [
                ("CREATE_INSTANCE", {"instance_id": iid, "machine": m, "version": 1,
                                     "initial_ctx": {"amount": k + 1}}),
                ("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "payload": {"k": k},
                                 "expected_state": "created"}),
                ("GET_INSTANCE", {"instance_id": iid}),
                ("APPLY_EVENT", {"instance_id": iid, "event": "SHIP", "expected_state": "paid"}),
                ("DELETE_INSTANCE", {"instance_id": iid}),
                ("GET_INSTANCE", {"instance_id": iid}),
            ]
        data = b"".join(rc.encode(rc.make_request(op, p, id="r%d" % i), framing)
                        for i, (op, p) in enumerate(reqs))
        c.send_raw(data)
        resps = [c.recv(framing) for _ in reqs]
        last = None
        for i, msg in enumerate(resps):
            assert msg["id"] == "r%d" % i, (i, msg)
        for k in range(n):
            cr, ap, g, sh, de, g2 = resps[6 * k: 6 * k + 6]
            iid = "%s-%d" % (m, k)
            c_res = rc.assert_ok(cr)
            a_res = rc.assert_ok(ap)
            g_res = rc.assert_ok(g)
            s_res = rc.assert_ok(sh)
            d_res = rc.assert_ok(de)
            rc.assert_error(g2, "INSTANCE_NOT_FOUND", "instance not found: %s" % iid)
            assert a_res["wal_offset"] == c_res["wal_offset"] + 1
            assert g_res["state"] == "paid" and g_res["last_wal_offset"] == a_res["wal_offset"]
            assert g_res["ctx"] == {"amount": k + 1, "k": k}
            assert s_res["wal_offset"] == a_res["wal_offset"] + 1
            assert d_res["wal_offset"] == s_res["wal_offset"] + 1
            if last is not None:
                assert c_res["wal_offset"] == last + 1
            last = d_res["wal_offset"]


# ---- concurrency --------------------------------------------------------------------

def _run_threads(n, target):
    errors = []
    threads = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:   # noqa: BLE001 - reported below
            errors.append((i, repr(e)))

    for i in range(n):
        t = threading.Thread(target=wrap, args=(i,), daemon=True)
        threads.append(t)
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "worker thread hung"
    assert not errors, errors


def test_concurrent_appliers_offsets_consistent(server_factory):
    srv = server_factory()
    n_threads, n_iter = 16, 20
    with DB(srv) as d:
        d.put_machine("c", 1, TICK_DEF)                      # 1
        d.create("shared", "c", 1)                           # 2
        for t in range(n_threads):
            d.create("own-%d" % t, "c", 1)                   # 3 .. 18
        base = d.latest()
    results = {}

    def worker(t):
        with DB(srv, timeout=30) as w:
            mine = []
            for i in range(n_iter):
                r1 = w.apply("own-%d" % t, "TICK", {"n": i, "t": t})
                r2 = w.apply("shared", "TICK", {"t": t, "i": i})
                mine.append((r1["wal_offset"], "own-%d" % t, {"n": i, "t": t}, r1["ctx"]))
                mine.append((r2["wal_offset"], "shared", {"t": t, "i": i}, r2["ctx"]))
            results[t] = mine

    stop = threading.Event()
    reader_log = []

    def reader():
        # Entries become visible only together with every lower offset (§25.1): reading
        # from the cursor must always return the cursor's entry first, never a later one.
        with DB(srv, timeout=30) as r:
            cursor = 1
            while not stop.is_set() or cursor <= base + n_threads * n_iter * 2:
                # Whether every writer was done BEFORE this read was sent: only then does an
                # empty page mean the end (a read answered empty just before the last write
                # committed proves nothing).
                writers_done = stop.is_set()
                res = r.wal_read(from_offset=cursor, limit=10000)
                recs = res["records"]
                if recs:
                    offs = [x["offset"] for x in recs]
                    if offs != list(range(cursor, cursor + len(offs))):
                        reader_log.append(("hole", cursor, offs[:5]))
                        return
                    cursor = offs[-1] + 1
                reader_log.append(cursor)
                if writers_done and not recs:
                    break

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    try:
        _run_threads(n_threads, worker)
    finally:
        stop.set()
        rt.join(60)
    assert not rt.is_alive(), "reader hung"
    assert reader_log and not any(isinstance(x, tuple) for x in reader_log), reader_log[-5:]
    assert reader_log[-1] == base + n_threads * n_iter * 2 + 1
    allr = [x for t in results for x in results[t]]
    offsets = sorted(x[0] for x in allr)
    total = n_threads * n_iter * 2
    assert offsets == list(range(base + 1, base + 1 + total)), "offsets not unique/gap-free"
    for t, mine in results.items():
        offs = [x[0] for x in mine]
        assert offs == sorted(offs), "one connection's writes must commit in order"
    with DB(srv, timeout=30) as d:
        st = d.stats()
        assert (st["entry_count"], st["latest_offset"]) == (base + total, base + total)
        recs = d.wal_all()
        assert [x["offset"] for x in recs] == list(range(1, base + total + 1))
        by_off = {x["offset"]: x["entry"] for x in recs}
        for off, iid, payload, ctx in allr:
            e = by_off[off]
            assert (e["type"], e["instance_id"], e["payload"], e["ctx"]) == \
                ("apply_event", iid, payload, ctx)
        for t in range(n_threads):
            g = d.get("own-%d" % t)
            assert g["ctx"] == {"n": n_iter - 1, "t": t}
            assert g["last_wal_offset"] == max(x[0] for x in results[t] if x[1] != "shared")
        g = d.get("shared")
        shared_offs = [x for x in allr if x[1] == "shared"]
        last = max(shared_offs, key=lambda x: x[0])
        assert g["last_wal_offset"] == last[0]
        assert g["ctx"] == last[3] == last[2]
        # the shared instance's ctx history is a chain: each entry's ctx = payload merged
        # into the previous one (keys t, i only) -> equal to the payload
        for off, iid, payload, ctx in shared_offs:
            assert ctx == payload


def test_concurrent_cas_and_idempotency(server_factory):
    srv = server_factory()
    with DB(srv) as d:
        d.put_machine("c", 1, TICK_DEF)
        c = d.create("shared", "c", 1)
        expected = c["wal_offset"]
    n = 16
    outcomes = [None] * n

    def cas(t):
        with DB(srv) as w:
            msg = w.call("APPLY_EVENT", {"instance_id": "shared", "event": "TICK",
                                         "payload": {"winner": t}, "expected_wal_offset": expected})
            outcomes[t] = msg

    _run_threads(n, cas)
    wins = [t for t, m in enumerate(outcomes) if m["status"] == "ok"]
    assert len(wins) == 1, outcomes
    for t, m in enumerate(outcomes):
        if t not in wins:
            e = rc.assert_error(m, "CONFLICT",
                                "WAL offset conflict: expected %d, actual %d" % (expected, expected + 1))
            assert e["details"] == {"expected_wal_offset": expected,
                                    "actual_wal_offset": expected + 1}
    creates = [None] * n

    def same_key(t):
        with DB(srv) as w:
            creates[t] = w.call("CREATE_INSTANCE", {"machine": "c", "version": 1,
                                                    "idempotency_key": "one"})

    _run_threads(n, same_key)
    res = [rc.assert_ok(m) for m in creates]
    assert all(r == res[0] for r in res), res
    dup = [None] * n

    def same_id(t):
        with DB(srv) as w:
            dup[t] = w.call("CREATE_INSTANCE", {"instance_id": "dup", "machine": "c", "version": 1})

    _run_threads(n, same_id)
    oks = [m for m in dup if m["status"] == "ok"]
    assert len(oks) == 1, dup
    for m in dup:
        if m["status"] != "ok":
            rc.assert_error(m, "INSTANCE_EXISTS", "instance already exists: dup")
    with DB(srv) as d:
        assert d.get("shared")["ctx"] == {"winner": wins[0]}
        types = [x["entry"]["type"] for x in d.wal_all()]
        assert types == ["put_machine", "create_instance", "apply_event", "create_instance",
                         "create_instance"]
        assert d.latest() == 5


def test_concurrent_atomic_batches_and_same_key_applies(server_factory):
    srv = server_factory()
    n = 12
    with DB(srv) as d:
        d.put_machine("c", 1, TICK_DEF)
        d.create("shared", "c", 1)
        for t in range(n):
            d.create("own-%d" % t, "c", 1)
    batches = [None] * n

    def batch(t):
        with DB(srv) as w:
            ops = []
            for i in range(10):
                ops.append({"op": "APPLY_EVENT", "params": {"instance_id": "shared", "event": "TICK",
                                                            "payload": {"t": t, "i": i}}})
                ops.append({"op": "APPLY_EVENT", "params": {"instance_id": "own-%d" % t,
                                                            "event": "TICK"}})
            batches[t] = w.ok("BATCH", {"mode": "atomic", "ops": ops})["results"]

    _run_threads(n, batch)
    spans = []
    for t, res in enumerate(batches):
        offs = [r["result"]["wal_offset"] for r in res]
        assert offs == list(range(offs[0], offs[0] + 20)), "atomic batch offsets not consecutive"
        # serializable: within the batch, each shared apply sees the previous one's ctx
        shared = [r["result"] for r in res[0::2]]
        for i, r in enumerate(shared):
            assert r["ctx"] == {"t": t, "i": i}
        spans.append((offs[0], offs[-1]))
    spans.sort()
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert b0 == a1 + 1, spans
    applies = [None] * n

    def same_key(t):
        with DB(srv) as w:
            applies[t] = w.apply("shared", "TICK", {"by": t}, idempotency_key="once")

    _run_threads(n, same_key)
    executed = [r for r in applies if r["applied"]]
    assert len(executed) == 1, applies
    for r in applies:
        assert dict(r, applied=True) == executed[0]
    with DB(srv) as d:
        assert d.latest() == spans[-1][1] + 1 == executed[0]["wal_offset"]
        assert d.get("shared")["last_wal_offset"] == executed[0]["wal_offset"]


def test_write_visible_to_other_connection_on_response(server_factory):
    srv = server_factory()
    with DB(srv) as a, DB(srv) as b:
        a.put_machine("c", 1, TICK_DEF)
        a.create("x", "c", 1)
        for i in range(50):
            r = a.apply("x", "TICK", {"i": i})
            g = b.get("x")
            assert g["last_wal_offset"] == r["wal_offset"] and g["ctx"] == {"i": i}
            assert b.latest() == r["wal_offset"]


def _fsyncs(db):
    return db.stats()["io_stats"]["fsyncs"]


def test_snapshot_is_synced_before_it_is_acknowledged(server_factory):
    """SNAPSHOT_INSTANCE writes no log entry, but it is a write like any other: under
    every_write its acknowledgement waits for a sync (WAL_STATS io_stats.fsyncs counts the
    durable syncs). It used to be acknowledged without one."""
    srv = server_factory()
    with DB(srv) as db:
        m = uniq("m")
        db.put_machine(m, 1, SIMPLE_DEF)
        db.create("snap-me", m, 1, ctx={"a": 1})
        for _ in range(3):
            before = _fsyncs(db)
            db.ok("SNAPSHOT_INSTANCE", {"instance_id": "snap-me"})
            assert _fsyncs(db) == before + 1


def test_snapshots_count_toward_every_n(server_factory):
    """Under every_n:N the background sync comes after N writes, snapshots included."""
    srv = server_factory(["--set", "storage.fsync_policy=every_n:2"])
    with DB(srv) as db:
        m = uniq("m")
        db.put_machine(m, 1, SIMPLE_DEF)
        db.create("snap-n", m, 1)
        deadline = time.monotonic() + 10
        while _fsyncs(db) < 1 and time.monotonic() < deadline:  # the two writes above
            time.sleep(0.01)
        base = _fsyncs(db)
        assert base >= 1
        db.ok("SNAPSHOT_INSTANCE", {"instance_id": "snap-n"})
        db.ok("SNAPSHOT_INSTANCE", {"instance_id": "snap-n"})
        deadline = time.monotonic() + 10
        while _fsyncs(db) < base + 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _fsyncs(db) == base + 1
