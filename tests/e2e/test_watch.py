"""WATCH_INSTANCE, WATCH_ALL and UNWATCH, live delivery (operations.md §15-17, §26.1;
protocol.md §6.5, §7): results and event shapes, every filter, what produces events, ordering
against responses, UNWATCH, the subscription limit, auth, and JSONL mode."""

import threading
import time

import pytest

import rcp_client as rc
from data_helpers import DB, uniq
from watch_helpers import (END_KEYS, FLIP_DEF, TICK_DEF, Subscriber, apply_offsets,
                           check_event_shape)

from test_auth import TOKEN, TOKEN_HASH, auth_args


@pytest.fixture
def srv(server_factory):
    return server_factory()


@pytest.fixture
def writer(srv):
    d = DB(srv)
    yield d
    d.close()


def setup_machines(w, *machines):
    for m, definition in machines:
        w.put_machine(m, 1, definition)


# ---- results and event shape ---------------------------------------------------------

def test_watch_all_result_and_event_shape(srv, writer):
    m = uniq("order")
    setup_machines(writer, (m, FLIP_DEF))
    writer.create("o-1", m, ctx={"customer": "alice"})
    latest = writer.latest()
    with Subscriber(srv) as s:
        r = s.watch_all()
        assert list(r.keys()) == ["subscription_id", "wal_offset"], r
        assert r["subscription_id"].startswith("sub-") and len(r["subscription_id"]) == 40, r
        assert r["wal_offset"] == latest
        a = writer.apply("o-1", "GO", {"amount": 99.99})
        e = s.next()
        check_event_shape(e)
        assert e == {"type": "event", "subscription_id": r["subscription_id"],
                     "instance_id": "o-1", "machine": m, "version": 1,
                     "wal_offset": a["wal_offset"], "from_state": "a", "to_state": "b",
                     "event": "GO", "payload": {"amount": 99.99},
                     "ctx": {"customer": "alice", "amount": 99.99}}
        # No payload: {} (never absent or null).
        a2 = writer.apply("o-1", "BACK")
        e2 = s.next()
        check_event_shape(e2)
        assert e2["payload"] == {} and e2["wal_offset"] == a2["wal_offset"], e2


def test_empty_log_wal_offset_is_zero(srv):
    with Subscriber(srv) as s:
        assert s.watch_all()["wal_offset"] == 0


@pytest.mark.parametrize("how", ["omitted", "null", "empty", "null_values"])
def test_watch_all_params_omitted_or_null_mean_empty(srv, writer, how):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("i", m)
    with Subscriber(srv) as s:
        if how == "omitted":
            rid = s.send_no_params("WATCH_ALL")
        elif how == "null_values":  # an optional parameter set to null counts as absent
            rid = s.send("WATCH_ALL", {k: None for k in ("machines", "from_states", "to_states", "events",
                                                         "include_ctx", "from_offset")})
        else:
            rid = s.send("WATCH_ALL", None if how == "null" else {})
        r = rc.assert_ok(s.response(rid))
        a = writer.apply("i", "TICK", {"n": 1})
        e = s.next()
        assert e["subscription_id"] == r["subscription_id"] and e["wal_offset"] == a["wal_offset"]
        assert "ctx" in e  # include_ctx defaults to true


def test_include_ctx_false_omits_ctx(srv, writer):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("i", m, ctx={"big": "x" * 100})
    with Subscriber(srv) as s:
        s.watch_all(include_ctx=False)
        writer.apply("i", "TICK", {"k": [1, 2]})
        e = s.next()
        check_event_shape(e, include_ctx=False)
        assert e["payload"] == {"k": [1, 2]}


def test_java_watch_instance_params(srv, writer):
    """Java sends include_ctx false and from_offset 0 (live only)."""
    m = uniq("order")
    setup_machines(writer, (m, FLIP_DEF))
    writer.create("o-1", m)
    writer.create("o-2", m)
    before = writer.apply("o-1", "GO")
    with Subscriber(srv) as s:
        r = s.watch_instance("o-1", include_ctx=False, from_offset=0)
        assert list(r.keys()) == ["subscription_id", "instance_id", "current_state",
                                  "current_wal_offset"], r
        assert r["instance_id"] == "o-1" and r["current_state"] == "b"
        assert r["current_wal_offset"] == before["wal_offset"]
        writer.apply("o-2", "GO")  # another instance: not delivered
        a = writer.apply("o-1", "BACK")
        e = s.next()
        check_event_shape(e, include_ctx=False)
        assert (e["instance_id"], e["wal_offset"], e["from_state"], e["to_state"]) == (
            "o-1", a["wal_offset"], "b", "a")
        assert s.nothing_pending()


def test_watch_instance_alias_and_errors(srv, writer):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("gone", m)
    writer.delete("gone")
    with Subscriber(srv) as s:
        e = rc.assert_error(s.request("WATCH_INSTANCE", {"instance_id": "nope"}), "INSTANCE_NOT_FOUND")
        assert e["details"] == {"instance_id": "nope"}, e
        rc.assert_error(s.request("WATCH_INSTANCE", {"instance_id": "gone"}), "INSTANCE_NOT_FOUND")
        rc.assert_error(s.request("WATCH_INSTANCE", {}), "BAD_REQUEST",
                        "invalid request: missing field 'instance_id'")
        rc.assert_error(s.request("WATCH_INSTANCE", {"instance_id": 5}), "BAD_REQUEST",
                        message_prefix="invalid request: invalid type for field 'instance_id'")
        rc.assert_error(s.request("WATCH_ALL", {"machines": "x"}), "BAD_REQUEST",
                        message_prefix="invalid request: invalid type for field 'machines'")
        rc.assert_error(s.request("WATCH_ALL", {"include_ctx": "yes"}), "BAD_REQUEST",
                        message_prefix="invalid request: invalid type for field 'include_ctx'")
        rc.assert_error(s.request("WATCH_ALL", {"from_offset": -1}), "BAD_REQUEST",
                        message_prefix="invalid request: invalid")
        writer.create("live", m)
        r = s.ok("WATCH_INSTANCE", {"id": "live"})
        assert r["instance_id"] == "live" and r["current_state"] == "s"
        a = writer.apply("live", "TICK")
        assert s.next()["wal_offset"] == a["wal_offset"]


def test_watch_instance_follows_the_id_across_delete_and_recreate(srv, writer):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("r", m)
    with Subscriber(srv) as s:
        sub = s.watch_instance("r")["subscription_id"]
        writer.delete("r")
        writer.create("r", m, ctx={"gen": 2})
        a = writer.apply("r", "TICK")
        e = s.next()
        assert e["subscription_id"] == sub and e["wal_offset"] == a["wal_offset"]
        assert e["ctx"] == {"gen": 2}


# ---- filters -----------------------------------------------------------------------

def test_every_filter(srv, writer):
    m1, m2 = uniq("m1"), uniq("m2")
    setup_machines(writer, (m1, FLIP_DEF), (m2, FLIP_DEF))
    for i in range(2):
        writer.create("a%d" % i, m1)
        writer.create("b%d" % i, m2)
    subs = {
        "none": {},
        "empty_lists": {"machines": [], "from_states": [], "to_states": [], "events": []},
        "m1": {"machines": [m1]},
        "m1_or_m2": {"machines": [m1, m2, m1]},
        "from_b": {"from_states": ["b"]},
        "to_b": {"to_states": ["b"]},
        "back": {"events": ["BACK"]},
        "and": {"machines": [m2], "events": ["GO"]},
        "case": {"events": ["go"]},
        "unknown_machine": {"machines": ["nope"]},
    }
    with Subscriber(srv) as s:
        ids = {}
        for name, params in subs.items():
            ids[s.watch_all(**params)["subscription_id"]] = name
        applied = []  # (offset, machine, from, to, event)
        for inst, m in (("a0", m1), ("b0", m2), ("a1", m1), ("b1", m2)):
            r = writer.apply(inst, "GO")
            applied.append((r["wal_offset"], m, "a", "b", "GO"))
        for inst, m in (("a0", m1), ("b1", m2)):
            r = writer.apply(inst, "BACK")
            applied.append((r["wal_offset"], m, "b", "a", "BACK"))
        # A marker every subscription without a narrowing filter sees last.
        marker_m = uniq("marker")
        writer.put_machine(marker_m, 1, TICK_DEF)
        writer.create("mk", marker_m)
        last = writer.apply("mk", "TICK")["wal_offset"]
        got = {name: [] for name in subs}
        # "none" and "empty_lists" receive every event, the marker last.
        seen_last = set()
        while len(seen_last) < 2:
            e = s.next()
            got[ids[e["subscription_id"]]].append(e["wal_offset"])
            if e["wal_offset"] == last:
                seen_last.add(e["subscription_id"])
        assert s.nothing_pending()

    def expect(pred):
        return [o for (o, m, f, t, ev) in applied if pred(m, f, t, ev)]

    everything = [o for (o, *_rest) in applied] + [last]
    assert got["none"] == everything
    assert got["empty_lists"] == everything
    assert got["m1"] == expect(lambda m, f, t, ev: m == m1)
    assert got["m1_or_m2"] == expect(lambda m, f, t, ev: True)
    assert got["from_b"] == expect(lambda m, f, t, ev: f == "b")
    assert got["to_b"] == expect(lambda m, f, t, ev: t == "b")
    assert got["back"] == expect(lambda m, f, t, ev: ev == "BACK")
    assert got["and"] == expect(lambda m, f, t, ev: m == m2 and ev == "GO")
    assert got["case"] == []
    assert got["unknown_machine"] == []


def test_only_applied_events_produce_events(srv, writer):
    """Creates, deletes, machine writes, idempotent replays, failed applies, COMPACT and
    snapshots produce no event; BATCH elements (both modes) do, in element order."""
    m = uniq("t")
    setup_machines(writer, (m, FLIP_DEF))
    writer.create("x", m)
    with Subscriber(srv) as s:
        sub = s.watch_all()["subscription_id"]
        first = writer.apply("x", "GO", idempotency_key="k1")["wal_offset"]
        replay = writer.apply("x", "GO", idempotency_key="k1")
        assert replay["wal_offset"] == first
        writer.put_machine(uniq("other"), 1, TICK_DEF)
        writer.create("y", m)
        writer.delete("y")
        writer.err("APPLY_EVENT", {"instance_id": "x", "event": "GO"}, "INVALID_TRANSITION")
        writer.ok("SNAPSHOT_INSTANCE", {"instance_id": "x"})
        writer.ok("COMPACT", {})
        writer.create("z", m)
        b = writer.ok("BATCH", {"mode": "atomic", "ops": [
            {"op": "APPLY_EVENT", "params": {"instance_id": "x", "event": "BACK"}},
            {"op": "CREATE_INSTANCE", "params": {"instance_id": "w", "machine": m, "version": 1}},
            {"op": "APPLY_EVENT", "params": {"instance_id": "z", "event": "GO"}}]})
        b2 = writer.ok("BATCH", {"ops": [
            {"op": "APPLY_EVENT", "params": {"instance_id": "w", "event": "GO"}},
            {"op": "APPLY_EVENT", "params": {"instance_id": "w", "event": "GO"}},  # fails
            {"op": "APPLY_EVENT", "params": {"instance_id": "x", "event": "GO"}}]})
        assert b2["results"][1]["status"] == "error"
        # Atomic failure: nothing committed, no event.
        writer.err("BATCH", {"mode": "atomic", "ops": [
            {"op": "APPLY_EVENT", "params": {"instance_id": "z", "event": "BACK"}},
            {"op": "APPLY_EVENT", "params": {"instance_id": "nope", "event": "GO"}}]},
            "INSTANCE_NOT_FOUND")
        last = writer.apply("z", "BACK")["wal_offset"]
        expected = [first,
                    b["results"][0]["result"]["wal_offset"],
                    b["results"][2]["result"]["wal_offset"],
                    b2["results"][0]["result"]["wal_offset"],
                    b2["results"][2]["result"]["wal_offset"],
                    last]
        got = [e["wal_offset"] for e in s.until(lambda e: e["wal_offset"] == last)]
        assert got == expected
        assert got == apply_offsets(writer, first)
        assert all(e["subscription_id"] == sub for _, e in s.log if _ == "event")
        assert s.nothing_pending()


# ---- ordering ----------------------------------------------------------------------

def test_pipelined_watch_then_apply_on_the_same_connection(srv, writer):
    """WATCH response first, then the APPLY_EVENT response, then the event it caused."""
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("i", m)
    with Subscriber(srv) as s:
        c = s.conn
        c.send_raw(rc.encode(rc.make_request("WATCH_ALL", {}, id="w"))
                   + rc.encode(rc.make_request("APPLY_EVENT", {"instance_id": "i", "event": "TICK"}, id="a"))
                   + rc.encode(rc.make_request("PING", None, id="p")))
        m1 = c.recv()
        assert m1.get("type") == "response" and m1["id"] == "w", m1
        m2 = c.recv()
        assert m2.get("type") == "response" and m2["id"] == "a", m2
        rest = [c.recv(), c.recv()]
        ev = [x for x in rest if x.get("type") == "event"]
        assert len(ev) == 1 and ev[0]["wal_offset"] == m2["result"]["wal_offset"], rest
        assert ev[0]["subscription_id"] == m1["result"]["subscription_id"]
        # The event follows the response of the request that caused it, and PING's response
        # is not held back behind it or ahead of it in a way that breaks response order.
        assert [x.get("id") for x in rest if x.get("type") == "response"] == ["p"]


def test_own_events_follow_own_responses_under_load(srv):
    """Many pipelined applies on the subscribing connection: each event comes after the
    response of the APPLY_EVENT that caused it (protocol.md §7 rule 6)."""
    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    w.create("i", m)
    n = 300
    with Subscriber(srv) as s:
        s.watch_all()
        c = s.conn
        c.send_raw(b"".join(rc.encode(rc.make_request("APPLY_EVENT", {"instance_id": "i", "event": "TICK"},
                                                        id="a%d" % k)) for k in range(n)))
        answered = {}
        events = []
        for _ in range(2 * n):
            msg = c.recv()
            if msg.get("type") == "event":
                assert msg["wal_offset"] in answered.values(), "event %d before its response" % msg["wal_offset"]
                events.append(msg["wal_offset"])
            else:
                answered[msg["id"]] = rc.assert_ok(msg)["wal_offset"]
        assert [answered["a%d" % k] for k in range(n)] == sorted(answered.values())
        assert events == sorted(answered.values())
    w.close()


def test_ordering_across_many_instances_and_writers(srv):
    """4 writer connections over 60 instances: every subscriber sees each matching event
    once, in strictly increasing offset order, exactly the log's apply_event entries."""
    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    for i in range(60):
        w.create("inst-%d" % i, m)
    start = w.latest() + 1
    per_writer = 100
    with Subscriber(srv) as all_sub, Subscriber(srv) as inst_sub:
        all_sub.watch_all()
        inst_sub.watch_instance("inst-7")

        def write(k):
            d = DB(srv)
            try:
                c = d.conn
                c.send_raw(b"".join(rc.encode(rc.make_request(
                    "APPLY_EVENT", {"instance_id": "inst-%d" % ((k * 13 + j) % 60), "event": "TICK"},
                    id=str(j))) for j in range(per_writer)))
                for _ in range(per_writer):
                    rc.assert_ok(c.recv_response())
            finally:
                d.close()

        threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        expected = apply_offsets(w, start)
        assert len(expected) == 4 * per_writer
        got = [e["wal_offset"] for e in all_sub.events(len(expected))]
        assert got == expected
        expected7 = apply_offsets(w, start, instance_id="inst-7")
        assert expected7, "inst-7 was written"
        got7 = [e["wal_offset"] for e in inst_sub.events(len(expected7))]
        assert got7 == expected7
        assert all_sub.nothing_pending() and inst_sub.nothing_pending()
    w.close()


# ---- UNWATCH -----------------------------------------------------------------------

def test_unwatch_removed_true_then_false(srv, writer):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("i", m)
    with Subscriber(srv) as s, Subscriber(srv) as other:
        a = s.watch_all()["subscription_id"]
        b = s.watch_all()["subscription_id"]
        theirs = other.watch_all()["subscription_id"]
        # Not this connection's: removed false, and the owner's subscription lives on.
        assert s.ok("UNWATCH", {"subscription_id": theirs}) == {"subscription_id": theirs, "removed": False}
        assert s.ok("UNWATCH", {"subscription_id": "sub-nope"}) == {"subscription_id": "sub-nope",
                                                                     "removed": False}
        assert s.ok("UNWATCH", {"subscription_id": a}) == {"subscription_id": a, "removed": True}
        assert s.ok("UNWATCH", {"subscription_id": a}) == {"subscription_id": a, "removed": False}
        rc.assert_error(s.request("UNWATCH", {}), "BAD_REQUEST",
                        "invalid request: missing field 'subscription_id'")
        off = writer.apply("i", "TICK")["wal_offset"]
        e = s.next()
        assert (e["subscription_id"], e["wal_offset"]) == (b, off)
        e2 = other.next()
        assert (e2["subscription_id"], e2["wal_offset"]) == (theirs, off)
        assert s.nothing_pending()


def test_no_event_after_the_unwatch_response_with_events_in_flight(srv):
    """A writer keeps applying while the subscriber unwatches: nothing for the subscription
    is written after the UNWATCH response (a second subscription proves the stream went on)."""
    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    w.create("i", m)
    stop = threading.Event()

    def write():
        d = DB(srv)
        try:
            while not stop.is_set():
                d.apply("i", "TICK", {"pad": "p" * 500})
        finally:
            d.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        for _round in range(5):
            with Subscriber(srv) as s:
                gone = s.watch_all()["subscription_id"]
                kept = s.watch_instance("i")["subscription_id"]
                s.next()  # events are flowing
                s.pending.clear()  # read before the UNWATCH response: allowed either way
                rid = s.send("UNWATCH", {"subscription_id": gone})
                while True:
                    msg = s.conn.recv()
                    if msg.get("type") == "response":
                        assert msg["id"] == rid and rc.assert_ok(msg)["removed"] is True
                        break
                after = []
                for _ in range(50):
                    e = s.next()
                    after.append(e)
                assert all(e["subscription_id"] == kept for e in after), after
    finally:
        stop.set()
        t.join(30)
    w.close()


# ---- limits, auth, modes, lifetime ---------------------------------------------------

def test_max_subscriptions_per_connection(server_factory):
    srv = server_factory(["--set", "watch.max_subscriptions_per_connection=3"])
    with Subscriber(srv) as s, Subscriber(srv) as other:
        ids = [s.watch_all()["subscription_id"] for _ in range(3)]
        e = rc.assert_error(s.request("WATCH_ALL", {}), "BAD_REQUEST")
        assert "too many subscriptions" in e["message"] and "at most 3" in e["message"], e
        # Per connection: another one still may.
        other.watch_all()
        assert s.ok("UNWATCH", {"subscription_id": ids[0]})["removed"] is True
        s.watch_all()


def test_watch_ops_need_auth(server_factory):
    srv = server_factory(auth_args(TOKEN_HASH))
    w = DB(srv)
    w.conn.auth(TOKEN)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    w.create("i", m)
    with Subscriber(srv) as s:
        for op, params in (("WATCH_ALL", {}), ("WATCH_INSTANCE", {"instance_id": "i"}),
                           ("UNWATCH", {"subscription_id": "sub-x"})):
            rc.assert_error(s.request(op, params), "UNAUTHORIZED")
        rc.assert_ok(s.conn.auth(TOKEN))
        sub = s.watch_instance("i")["subscription_id"]
        off = w.apply("i", "TICK")["wal_offset"]
        e = s.next()
        assert (e["subscription_id"], e["wal_offset"]) == (sub, off)
    w.close()


def test_events_in_jsonl_mode_after_a_jsonl_hello(srv, writer):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("i", m)
    with Subscriber(srv) as s:
        r = rc.assert_ok(s.conn.hello(wire_modes=["jsonl"]))
        assert r["wire_mode"] == "jsonl", r
        s.conn.framing = "jsonl"
        sub = s.watch_all()["subscription_id"]
        off = writer.apply("i", "TICK")["wal_offset"]
        e = s.next()
        assert e.framing == "jsonl", e.framing
        assert (e["subscription_id"], e["wal_offset"]) == (sub, off)


def test_events_stay_binary_on_a_binary_connection(srv, writer):
    m = uniq("t")
    setup_machines(writer, (m, TICK_DEF))
    writer.create("i", m)
    with Subscriber(srv) as s:
        rc.assert_ok(s.conn.hello(wire_modes=["binary_json"]))
        s.watch_all()
        writer.apply("i", "TICK")
        assert s.next().framing == "rcpx"


def test_subscription_keeps_the_connection_past_the_idle_timeout(server_factory):
    srv = server_factory(["--set", "network.idle_timeout_secs=1"])
    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    w.create("i", m)
    with Subscriber(srv) as s, srv.connect() as idle:
        s.watch_all()
        idle.ping()
        # The idle one is closed after ~1 s; the subscriber, silent as long, is not.
        idle.expect_closed(timeout=10)
        assert not s.conn.is_closed_now()
        with DB(srv) as w2:  # the first writer was idle too, and is closed
            off = w2.apply("i", "TICK")["wal_offset"]
        assert s.next()["wal_offset"] == off
    w.close()


def test_shutdown_sends_end_to_every_subscription(server_factory):
    srv = server_factory()
    with Subscriber(srv) as s:
        a = s.watch_all()["subscription_id"]
        b = s.watch_all(machines=["x"])["subscription_id"]
        srv.stop()
        ends = [s.next(), s.next()]
        for e in ends:
            assert list(e.keys()) == END_KEYS and e["reason"] == "shutdown", e
        assert sorted(e["subscription_id"] for e in ends) == sorted([a, b])
        s.conn.expect_closed(timeout=10)
    assert srv.returncode == 0


def test_filter_bytes_are_bounded_at_64_kib(srv):
    """Each subscription's filter values may hold 65 536 bytes, every value counting 64 bytes
    more than its text (so empty strings are not free)."""
    with Subscriber(srv) as s:
        at_bound = ["m%04d" % k + "x" * (4096 - 64 - 5) for k in range(16)]
        assert sum(len(v) + 64 for v in at_bound) == 65536
        s.watch_all(machines=at_bound)
        over = list(at_bound)
        over[-1] += "y"
        e = rc.assert_error(s.request("WATCH_ALL", {"machines": over}), "BAD_REQUEST")
        assert e["message"] == ("invalid request: invalid value for field 'machines': the filters of "
                                "one subscription may hold at most 65536 bytes (each value counts 64 "
                                "more)"), e
        assert e["details"] == {"field": "machines"}, e
        # Across lists: the sum counts.
        half = at_bound[:8]
        s.watch_all(machines=half, to_states=half)
        e = rc.assert_error(s.request("WATCH_ALL", {"machines": half, "to_states": half, "events": ["z"]}),
                            "BAD_REQUEST")
        assert e["details"] == {"field": "events"}, e
        s.watch_all(events=[""] * 1024)
        e = rc.assert_error(s.request("WATCH_ALL", {"events": [""] * 1025}), "BAD_REQUEST")
        assert e["details"] == {"field": "events"}, e


def test_queue_bounds_at_their_minimums_still_deliver_everything(server_factory):
    """watch.queue_events=1 and watch.queue_bytes=65536 (the smallest allowed): every event
    still arrives in order, including events larger than the byte bound."""
    srv = server_factory(["--set", "watch.queue_events=1", "--set", "watch.queue_bytes=65536"])
    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    w.create("i", m)
    with Subscriber(srv) as s:
        s.watch_all(include_ctx=False)
        offs = [w.apply("i", "TICK", {"n": k, "pad": "z" * (70000 if k % 10 == 0 else 10)})["wal_offset"]
                for k in range(40)]
        got = s.events(40)
        assert [e["wal_offset"] for e in got] == offs
        assert [e["payload"]["n"] for e in got] == list(range(40))
    w.close()


def test_gauge_returns_to_zero_on_every_way_a_subscription_ends(server_factory):
    """The live-subscription gauge (ADMIN_STATUS `subscriptions`, runtime.md §4.2) counts by
    type and comes down on UNWATCH, EOF and BYE (`end` lagged: test_watch_replay)."""
    from admin_helpers import AdminConnection, socket_path

    srv = server_factory()

    def gauge():
        with AdminConnection(socket_path(srv)) as a:
            return rc_ok_status(a)["subscriptions"]

    def rc_ok_status(a):
        msg = a.request("ADMIN_STATUS")
        assert msg["status"] == "ok", msg
        return msg["result"]

    def settles_at(expected):
        deadline = time.monotonic() + 10
        while True:
            g = gauge()
            if g == expected or time.monotonic() > deadline:
                return g
            time.sleep(0.05)

    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    w.create("i", m)
    assert gauge() == {"instance": 0, "all": 0}
    eof, bye, unwatch = Subscriber(srv), Subscriber(srv), Subscriber(srv)
    for s in (eof, bye, unwatch):
        s.watch_all()
        s.watch_instance("i")
        s.watch_all(machines=[m])
    assert gauge() == {"instance": 3, "all": 6}
    ids = [rc.assert_ok(r)["subscription_id"] for _, r in unwatch.log if _ == "response"]
    for sid in ids:
        assert unwatch.ok("UNWATCH", {"subscription_id": sid})["removed"] is True
    assert gauge() == {"instance": 2, "all": 4}
    eof.close()
    assert settles_at({"instance": 1, "all": 2}) == {"instance": 1, "all": 2}
    bye.ok("BYE")
    bye.conn.expect_closed(timeout=10)
    bye.close()
    assert settles_at({"instance": 0, "all": 0}) == {"instance": 0, "all": 0}
    unwatch.close()
    w.close()
