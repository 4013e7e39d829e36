"""APPLY_EVENT: transitions, guards, merge, optimistic concurrency, idempotency
(operations.md §9, §19.3, §20.4-20.5, §21, §23, §24)."""

import pytest

import rcp_client as rc
from data_helpers import (DB, ORDER_DEF, ORDER_GUARD, TICK_DEF,  # noqa: F401,F811
                          assert_param_error, check_entry_shape, db, dump_ordered, sdb, uniq)

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

REVIEW_DEF = {"states": ["review", "approved", "manual", "rejected"], "initial": "review",
              "transitions": [
                  {"from": "review", "event": "DECIDE", "to": "approved", "guard": "ctx.score >= 80"},
                  {"from": "review", "event": "DECIDE", "to": "manual", "guard": "ctx.score >= 50"},
                  {"from": "review", "event": "DECIDE", "to": "rejected"}]}

# t0 is not a candidate from "s"; t1 and t2 are, in that order; nothing guard-less.
GUARDED_DEF = {"states": ["x", "s", "a", "b", "c"], "initial": "s",
               "transitions": [
                   {"from": "x", "event": "E", "to": "a", "guard": "ctx.never"},
                   {"from": "s", "event": "E", "to": "b", "guard": "ctx.p == 1"},
                   {"from": ["x", "s"], "event": "E", "to": "c", "guard": "ctx.q == 1"},
                   {"from": [], "event": "F", "to": "a"}]}


@pytest.fixture(scope="module")
def machines(server):
    names = {k: uniq(k) for k in ("order", "review", "guarded", "tick")}
    with DB(server) as d:
        d.put_machine(names["order"], 1, ORDER_DEF)
        d.put_machine(names["review"], 1, REVIEW_DEF)
        d.put_machine(names["guarded"], 1, GUARDED_DEF)
        d.put_machine(names["tick"], 1, TICK_DEF)
    return names


def test_apply_basic_result_entry_and_get(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    sdb.create(iid, m, 1, {"customer": "alice", "amount": 99.99})
    before = sdb.latest()
    r = sdb.apply(iid, "PAY", {"amount": 99.99}, event_id="evt-1")
    assert list(r.items()) == [("from_state", "created"), ("to_state", "paid"),
                               ("ctx", {"customer": "alice", "amount": 99.99}),
                               ("wal_offset", before + 1), ("applied", True), ("event_id", "evt-1")]
    assert list(r["ctx"].keys()) == ["customer", "amount"]
    g = sdb.get(iid)
    assert g["state"] == "paid" and g["last_event_id"] == "evt-1"
    assert g["last_wal_offset"] == before + 1 and g["updated_at"] >= g["created_at"]
    rec = sdb.wal_read(from_offset=before + 1, limit=1)["records"][0]
    e = rec["entry"]
    check_entry_shape(e)
    assert list(e.items())[:-1] == [
        ("type", "apply_event"), ("instance_id", iid), ("machine", m), ("version", 1),
        ("event", "PAY"), ("from_state", "created"), ("to_state", "paid"),
        ("payload", {"amount": 99.99}), ("ctx", {"customer": "alice", "amount": 99.99}),
        ("event_id", "evt-1")]
    # next apply without event_id: no event_id in result, last_event_id removed
    r2 = sdb.apply(iid, "SHIP")
    assert list(r2.keys()) == ["from_state", "to_state", "ctx", "wal_offset", "applied"]
    assert r2["wal_offset"] == before + 2 and r2["from_state"] == "paid"
    assert r2["to_state"] == "shipped"
    g2 = sdb.get(iid)
    assert "last_event_id" not in g2 and g2["state"] == "shipped"
    e2 = sdb.wal_read(from_offset=before + 2, limit=1)["records"][0]["entry"]
    assert e2["payload"] == {} and "event_id" not in e2 and "idempotency_key" not in e2
    check_entry_shape(e2)
    # event_id / idempotency_key null count as absent
    t = uniq("t")
    sdb.create(t, machines["tick"], 1)
    sdb.apply(t, "TICK", event_id="first")
    r3 = sdb.apply(t, "TICK", None, event_id=None, idempotency_key=None)
    assert "event_id" not in r3 and "last_event_id" not in sdb.get(t)
    e3 = sdb.wal_read(from_offset=r3["wal_offset"], limit=1)["records"][0]["entry"]
    assert "event_id" not in e3 and "idempotency_key" not in e3


def test_apply_array_from_and_alias(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    sdb.create(iid, m, 1, {"amount": 1})
    sdb.apply(iid, "PAY")
    r = sdb.ok("APPLY_EVENT", {"id": iid, "event": "CANCEL", "payload": None})
    assert r["from_state"] == "paid" and r["to_state"] == "cancelled"
    # both spellings: instance_id wins
    other = uniq("o")
    sdb.create(other, m, 1)
    r = sdb.ok("APPLY_EVENT", {"instance_id": other, "id": iid, "event": "CANCEL"})
    assert r["from_state"] == "created"
    assert sdb.get(iid)["state"] == "cancelled" and sdb.get(other)["state"] == "cancelled"


def test_invalid_transition(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    sdb.create(iid, m, 1, {"amount": 1})
    before = sdb.latest()
    for ev in ("SHIP", "pay", "NOPE", ""):
        e = sdb.err("APPLY_EVENT", {"instance_id": iid, "event": ev}, "INVALID_TRANSITION",
                    "invalid transition: cannot apply '%s' in state 'created'" % ev,
                    details={"current_state": "created", "event": ev})
        assert e["retryable"] is False
        assert list(e["details"].keys()) == ["current_state", "event"]
    # `from: []` never matches
    g = uniq("g")
    sdb.create(g, machines["guarded"], 1)
    sdb.err("APPLY_EVENT", {"instance_id": g, "event": "F"}, "INVALID_TRANSITION",
            "invalid transition: cannot apply 'F' in state 's'",
            details={"current_state": "s", "event": "F"})
    assert sdb.latest() == before + 1   # only the create
    assert sdb.get(iid)["state"] == "created"


def test_guard_failed_uses_pre_merge_ctx(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    sdb.create(iid, m, 1)
    before = sdb.latest()
    e = sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "payload": {"amount": 10}},
                "GUARD_FAILED", "guard failed for transition 'created' -> 'paid' on event 'PAY'",
                details={"guard": ORDER_GUARD, "current_state": "created", "event": "PAY"})
    assert e["retryable"] is False
    assert list(e["details"].keys()) == ["guard", "current_state", "event"]
    assert sdb.latest() == before
    assert sdb.get(iid)["ctx"] == {}
    blocked = uniq("o")
    sdb.create(blocked, m, 1, {"amount": 3, "blocked": True})
    sdb.err("APPLY_EVENT", {"instance_id": blocked, "event": "PAY", "payload": {"blocked": False}},
            "GUARD_FAILED")
    ok = uniq("o")
    sdb.create(ok, m, 1, {"amount": 3, "blocked": False})
    r = sdb.apply(ok, "PAY", {"amount": 0})
    assert r["to_state"] == "paid" and r["ctx"] == {"amount": 0, "blocked": False}


@pytest.mark.parametrize("score,target", [(95, "approved"), (80, "approved"), (79.5, "manual"),
                                          (50, "manual"), (10, "rejected"), (None, "rejected"),
                                          ("90", "rejected")])
def test_first_passing_candidate_wins(sdb, machines, score, target):
    iid = uniq("r")
    sdb.create(iid, machines["review"], 1, {} if score is None else {"score": score})
    r = sdb.apply(iid, "DECIDE")
    assert (r["from_state"], r["to_state"]) == ("review", target)


def test_guard_failed_reports_first_candidate(sdb, machines):
    m = machines["guarded"]
    iid = uniq("g")
    sdb.create(iid, m, 1, {"never": True})
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "E"}, "GUARD_FAILED",
            "guard failed for transition 's' -> 'b' on event 'E'",
            details={"guard": "ctx.p == 1", "current_state": "s", "event": "E"})
    a = uniq("g")
    sdb.create(a, m, 1, {"q": 1})
    assert sdb.apply(a, "E")["to_state"] == "c"
    b = uniq("g")
    sdb.create(b, m, 1, {"q": 1, "p": 1})
    assert sdb.apply(b, "E")["to_state"] == "b"


GUARD_CASES = [
    # (guard, ctx, expected to pass)
    ("ctx.a", {"a": 1}, True), ("ctx.a", {"a": 0}, False), ("ctx.a", {"a": -0.0}, False),
    ("ctx.a", {"a": ""}, False), ("ctx.a", {"a": "0"}, True), ("ctx.a", {"a": []}, False),
    ("ctx.a", {"a": {}}, False), ("ctx.a", {"a": [0]}, True), ("ctx.a", {"a": {"k": None}}, True),
    ("ctx.a", {"a": None}, False), ("ctx.a", {}, False), ("ctx.a", {"a": False}, False),
    ("ctx.a == null", {}, True), ("ctx.a == null", {"a": None}, True),
    ("ctx.a == null", {"a": 0}, False), ("ctx.a.b == null", {"a": 5}, True),
    ("ctx.a != \"x\"", {}, True), ("ctx.a == \"x\"", {"a": "X"}, False),
    ("ctx.n == \"1\"", {"n": 1}, False), ("ctx.n == 1", {"n": 1.0}, True),
    ("ctx.n == 0.3", {"n": 0.1 + 0.2}, True), ("ctx.n == 1", {"n": True}, False),
    ("ctx.b == true", {"b": 1}, False), ("ctx.b == false", {}, False),
    ("ctx.n > 5", {"n": "9"}, False), ("ctx.n > 5", {}, False), ("ctx.n >= 5", {"n": 5}, True),
    ("ctx.n < -1.5", {"n": -2}, True), ("ctx.n <= .5", {"n": 0.5}, True),
    ("ctx.items.length > 2", {"items": [1, 2, 3]}, True),
    ("ctx.items.length == 2", {"items": [1, 2, 3]}, False),
    ("ctx.s.length == 3", {"s": "h\u00e9\U0001F600"}, True),
    ("ctx.o.length == 7", {"o": {"length": 7}}, True), ("ctx.o.length", {"o": {"a": 1}}, False),
    ("ctx.items.0 == 5", {"items": [5]}, False), ("ctx.items.0 == 5", {"items": {"0": 5}}, True),
    ("!ctx.a == 1", {"a": 2}, True), ("!ctx.a == 1", {"a": 1}, False),
    ("ctx.a || ctx.b && ctx.c", {"a": 1}, True), ("(ctx.a || ctx.b) && ctx.c", {"a": 1}, False),
    ("!!ctx.a", {"a": 1}, True), ("ctx.u == \"\u00e9\"", {"u": "\u00e9"}, True),
    ("ctx.q == \"a\\\"b\\\\c\"", {"q": "a\"b\\c"}, True),
    ("ctx.big == 9007199254740993", {"big": 9007199254740992}, True),
    ("ctx.tiny == 0", {"tiny": 1e-17}, True),
]


def test_guard_evaluation(sdb):
    """One machine per guard: PASS goes to `yes`, otherwise GUARD_FAILED."""
    for i, (guard, ctx, expected) in enumerate(GUARD_CASES):
        m = uniq("ge%d" % i)
        sdb.put_machine(m, 1, {"states": ["s", "yes"], "initial": "s",
                               "transitions": [{"from": "s", "event": "E", "to": "yes",
                                                "guard": guard}]})
        iid = uniq("ge")
        sdb.create(iid, m, 1, ctx)
        msg = sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "E"})
        if expected:
            assert rc.assert_ok(msg)["to_state"] == "yes", (guard, ctx, msg)
        else:
            e = rc.assert_error(msg, "GUARD_FAILED")
            assert e["details"]["guard"] == guard, (guard, ctx, msg)


def test_context_merge_example(sdb, machines):
    iid = uniq("t")
    sdb.create(iid, machines["tick"], 1, {"a": 1, "n": {"x": 1, "y": 2}})
    r = sdb.apply(iid, "TICK", {"n": {"x": 5}, "b": None})
    want = {"a": 1, "n": {"x": 5}, "b": None}
    assert dump_ordered(r["ctx"]) == dump_ordered(want)
    assert dump_ordered(sdb.get(iid)["ctx"]) == dump_ordered(want)
    e = sdb.wal_read(from_offset=r["wal_offset"], limit=1)["records"][0]["entry"]
    assert dump_ordered(e["payload"]) == dump_ordered({"n": {"x": 5}, "b": None})
    assert dump_ordered(e["ctx"]) == dump_ordered(want)
    # keys are never removed; an empty payload keeps the ctx
    r = sdb.apply(iid, "TICK", {})
    assert dump_ordered(r["ctx"]) == dump_ordered(want)
    r = sdb.apply(iid, "TICK", {"a": [1, 2], "z": {"deep": {"er": True}}})
    assert dump_ordered(r["ctx"]) == dump_ordered({"a": [1, 2], "n": {"x": 5}, "b": None,
                                                    "z": {"deep": {"er": True}}})


def test_self_transition_writes_entries(sdb, machines):
    iid = uniq("t")
    c = sdb.create(iid, machines["tick"], 1)
    r1 = sdb.apply(iid, "TICK")
    r2 = sdb.apply(iid, "TICK")
    assert (r1["from_state"], r1["to_state"]) == ("s", "s")
    assert r2["wal_offset"] == r1["wal_offset"] + 1 == c["wal_offset"] + 2
    assert sdb.get(iid)["last_wal_offset"] == r2["wal_offset"]
    assert sdb.latest() == r2["wal_offset"]


def test_expected_state(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    sdb.create(iid, m, 1, {"amount": 1})
    before = sdb.latest()
    e = sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "expected_state": "paid"},
                "CONFLICT", "state conflict: expected 'paid', actual 'created'",
                details={"expected_state": "paid", "actual_state": "created"})
    assert e["retryable"] is False
    assert list(e["details"].keys()) == ["expected_state", "actual_state"]
    # checked before the transition lookup
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "NOPE", "expected_state": "Created"},
            "CONFLICT", "state conflict: expected 'Created', actual 'created'",
            details={"expected_state": "Created", "actual_state": "created"})
    assert sdb.latest() == before
    r = sdb.apply(iid, "PAY", expected_state="created")
    assert r["to_state"] == "paid"
    # null counts as absent
    assert sdb.apply(iid, "SHIP", expected_state=None)["to_state"] == "shipped"


def test_expected_wal_offset(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    c = sdb.create(iid, m, 1, {"amount": 1})
    off = c["wal_offset"]
    e = sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "expected_wal_offset": off - 1},
                "CONFLICT", "WAL offset conflict: expected %d, actual %d" % (off - 1, off),
                details={"expected_wal_offset": off - 1, "actual_wal_offset": off})
    assert e["retryable"] is False
    assert list(e["details"].keys()) == ["expected_wal_offset", "actual_wal_offset"]
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "expected_wal_offset": 0},
            "CONFLICT", "WAL offset conflict: expected 0, actual %d" % off,
            details={"expected_wal_offset": 0, "actual_wal_offset": off})
    # state is checked first
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "expected_state": "x",
                            "expected_wal_offset": 0}, "CONFLICT",
            "state conflict: expected 'x', actual 'created'")
    # both matching -> applies; offset check before transition lookup
    r = sdb.apply(iid, "PAY", expected_state="created", expected_wal_offset=off)
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "NOPE", "expected_wal_offset": off},
            "CONFLICT", details={"expected_wal_offset": off, "actual_wal_offset": r["wal_offset"]})
    assert sdb.apply(iid, "SHIP", expected_wal_offset=r["wal_offset"])["to_state"] == "shipped"
    for bad in ("1", -1, 1.5, True):
        assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "X",
                                                    "expected_wal_offset": bad}),
                           "expected_wal_offset", "type_or_value")
    for bad in ("1.0", "18446744073709551616", "1e3"):
        msg = sdb.call_raw_params("APPLY_EVENT", '{"instance_id":"%s","event":"X",'
                                                 '"expected_wal_offset":%s}' % (iid, bad))
        assert_param_error(msg, "expected_wal_offset", "type_or_value")
    big = 18446744073709551615
    cur = sdb.get(iid)["last_wal_offset"]
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "X", "expected_wal_offset": big},
            "CONFLICT", "WAL offset conflict: expected %d, actual %d" % (big, cur),
            details={"expected_wal_offset": big, "actual_wal_offset": cur})


def test_apply_idempotency(sdb, machines):
    m = machines["order"]
    iid = uniq("o")
    sdb.create(iid, m, 1, {"amount": 2})
    r1 = sdb.apply(iid, "PAY", {"x": 1}, event_id="e-1", idempotency_key="k")
    assert r1["applied"] is True
    latest = sdb.latest()
    entry = sdb.wal_read(from_offset=latest, limit=1)["records"][0]["entry"]
    assert entry["idempotency_key"] == "k" and entry["event_id"] == "e-1"
    check_entry_shape(entry)
    r2 = sdb.apply(iid, "SHIP", {"y": 2}, idempotency_key="k")
    want = dict(r1, applied=False)
    assert list(r2.items()) == list(want.items())
    # expected_* are not checked on a replay
    r3 = sdb.apply(iid, "PAY", idempotency_key="k", expected_state="nope", expected_wal_offset=1)
    assert r3 == want
    assert sdb.latest() == latest
    g = sdb.get(iid)
    assert g["state"] == "paid" and g["last_event_id"] == "e-1" and g["ctx"] == {"amount": 2, "x": 1}
    # the replay returns the original even after the instance moved on
    r4 = sdb.apply(iid, "SHIP")
    assert sdb.apply(iid, "CANCEL", idempotency_key="k") == want
    assert sdb.get(iid)["state"] == "shipped"
    assert sdb.latest() == r4["wal_offset"]
    # scope is per instance: the same key elsewhere executes
    other = uniq("o")
    sdb.create(other, m, 1, {"amount": 2})
    assert sdb.apply(other, "PAY", idempotency_key="k")["applied"] is True
    # a failure records nothing; the retry runs normally
    f = uniq("o")
    sdb.create(f, m, 1)
    sdb.err("APPLY_EVENT", {"instance_id": f, "event": "PAY", "idempotency_key": "fk"}, "GUARD_FAILED")
    sdb.err("APPLY_EVENT", {"instance_id": f, "event": "SHIP", "idempotency_key": "fk"},
            "INVALID_TRANSITION")
    r = sdb.apply(f, "CANCEL", idempotency_key="fk")
    assert r["applied"] is True and r["to_state"] == "cancelled"
    assert sdb.apply(f, "PAY", idempotency_key="fk") == dict(r, applied=False)
    # the instance must still exist and be live
    sdb.delete(iid)
    sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "PAY", "idempotency_key": "k"},
            "INSTANCE_NOT_FOUND", "instance not found: %s" % iid, details={"instance_id": iid})


def test_apply_idempotency_namespaces_and_empty_key(sdb, machines):
    t = machines["tick"]
    iid = uniq("t")
    sdb.ok("CREATE_INSTANCE", {"instance_id": iid, "machine": t, "version": 1,
                               "idempotency_key": "same-key"})
    r = sdb.apply(iid, "TICK", idempotency_key="same-key")
    assert r["applied"] is True
    d = sdb.delete(iid, idempotency_key="same-key")
    assert d["wal_offset"] == r["wal_offset"] + 1
    j = uniq("t")
    sdb.create(j, t, 1)
    a = sdb.apply(j, "TICK", idempotency_key="")
    b = sdb.apply(j, "TICK", idempotency_key="")
    assert a["applied"] is True and b["applied"] is True
    assert b["wal_offset"] == a["wal_offset"] + 1
    e = sdb.wal_read(from_offset=b["wal_offset"], limit=1)["records"][0]["entry"]
    assert "idempotency_key" not in e


@pytest.mark.parametrize("payload", [[], [1], "x", 5, True, 1.5])
def test_payload_not_object(sdb, machines, payload):
    iid = uniq("t")
    sdb.create(iid, machines["tick"], 1)
    before = sdb.latest()
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "TICK",
                                                "payload": payload}), "payload", "type")
    # parameter types come before the instance lookup
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": uniq("none"), "event": "TICK",
                                                "payload": payload}), "payload", "type")
    assert sdb.latest() == before


def test_apply_param_and_lookup_errors(sdb, machines):
    iid = uniq("nf")
    e = sdb.err("APPLY_EVENT", {"instance_id": iid, "event": "X"}, "INSTANCE_NOT_FOUND",
                "instance not found: %s" % iid, details={"instance_id": iid})
    assert "not found" in e["message"]
    assert_param_error(sdb.call("APPLY_EVENT", None), "instance_id")
    assert_param_error(sdb.call("APPLY_EVENT", {"event": "X"}), "instance_id")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid}), "event")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": None}), "event")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": 5}), "event", "type")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": [iid], "event": "X"}),
                       "instance_id", "type")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "X", "event_id": 5}),
                       "event_id", "type")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "X",
                                                "expected_state": 5}), "expected_state", "type")
    assert_param_error(sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "X",
                                                "idempotency_key": {}}), "idempotency_key", "type")
