"""BATCH in best_effort and atomic mode (operations.md §10)."""

import pytest

import rcp_client as rc
from data_helpers import (ORDER_DEF, SIMPLE_DEF, SIMPLE_SUM, TICK_DEF,  # noqa: F401,F811
                          assert_param_error, check_error_object, db, sdb, uniq)


# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

def op(name, params=None, **kw):
    o = {"op": name}
    if params is not None:
        o["params"] = params
    o.update(kw)
    return o


def ok_elem(res):
    assert list(res.keys()) == ["status", "result"], res
    assert res["status"] == "ok"
    assert isinstance(res["result"], dict)
    return res["result"]


def err_elem(res, code, message=None, details=None, message_prefix=None):
    assert list(res.keys()) == ["status", "error"], res
    assert res["status"] == "error"
    e = check_error_object(res["error"])
    assert e["code"] == code, res
    if message is not None:
        assert e["message"] == message, res
    if message_prefix is not None:
        assert e["message"].startswith(message_prefix), res
    if details is not None:
        assert e.get("details") == details, res
    return e


def test_best_effort_mixed(db):
    ops = [
        op("PUT_MACHINE", {"machine": "order", "version": 1, "definition": SIMPLE_DEF}),   # 0 -> 1
        op("CREATE_INSTANCE", {"instance_id": "o-9", "machine": "order", "version": 1}),  # 1 -> 2
        op("APPLY_EVENT", {"instance_id": "o-9", "event": "SHIP"}),                        # 2 err
        5,                                                                                  # 3
        {"params": {}},                                                                     # 4
        {"op": 7},                                                                          # 5
        op("FROB", {}),                                                                     # 6
        op("LIST_MACHINES", {}),                                                            # 7
        op("BATCH", {"ops": []}),                                                           # 8
        op("PING"),                                                                         # 9
        op("GET_INSTANCE", {"instance_id": "o-9"}),                                         # 10
        op("APPLY_EVENT", {"id": "o-9", "event": "PAY", "event_id": "e1"}),                 # 11 -> 3
        op("GET_MACHINE", {"machine": "order", "version": 1}),                              # 12
        op("GET_INSTANCE"),                                                                 # 13
        {"op": "GET_INSTANCE", "params": None},                                             # 14
        op("DELETE_INSTANCE", {"instance_id": "o-9"}),                                      # 15 -> 4
        op("GET_INSTANCE", {"instance_id": "o-9"}),                                         # 16
        op("WAL_READ", {}), op("WAL_STATS"), op("COMPACT"), op("FLUSH_ALL"),                # 17-20
        op("LIST_INSTANCES"), op("SNAPSHOT_INSTANCE", {"instance_id": "o-9"}),              # 21-22
        op("WATCH_ALL"), op("UNWATCH", {"subscription_id": "x"}), op("HELLO"),              # 23-25
        op("AUTH", {"token": "x"}), op("BYE"), op("INFO"),                                  # 26-28
        op("WATCH_INSTANCE", {"instance_id": "o-9"}),                                       # 29
        op("ping"),                                                                         # 30
    ]
    r = db.ok("BATCH", {"ops": ops})
    assert list(r.keys()) == ["results"]
    res = r["results"]
    assert len(res) == len(ops)
    assert ok_elem(res[0]) == {"machine": "order", "version": 1, "stored_checksum": SIMPLE_SUM,
                               "created": True}
    assert ok_elem(res[1]) == {"instance_id": "o-9", "state": "created", "wal_offset": 2}
    err_elem(res[2], "INVALID_TRANSITION", "invalid transition: cannot apply 'SHIP' in state 'created'",
             {"current_state": "created", "event": "SHIP"})
    for i in (3, 4, 5):
        err_elem(res[i], "BAD_REQUEST")
    err_elem(res[6], "BAD_REQUEST", "unknown operation: FROB")
    err_elem(res[7], "BAD_REQUEST", "operation LIST_MACHINES is not allowed in a batch")
    err_elem(res[8], "BAD_REQUEST", "operation BATCH is not allowed in a batch")
    err_elem(res[9], "BAD_REQUEST", "operation PING is not allowed in a batch")
    g = ok_elem(res[10])
    assert g["instance_id"] == "o-9" and g["state"] == "created" and g["last_wal_offset"] == 2
    assert ok_elem(res[11]) == {"from_state": "created", "to_state": "paid", "ctx": {},
                                "wal_offset": 3, "applied": True, "event_id": "e1"}
    assert ok_elem(res[12]) == {"definition": SIMPLE_DEF, "checksum": SIMPLE_SUM}
    for i in (13, 14):
        e = err_elem(res[i], "BAD_REQUEST", "invalid request: missing field 'instance_id'",
                     {"field": "instance_id"})
        assert e["retryable"] is False
    assert ok_elem(res[15]) == {"instance_id": "o-9", "deleted": True, "wal_offset": 4}
    err_elem(res[16], "INSTANCE_NOT_FOUND", "instance not found: o-9", {"instance_id": "o-9"})
    for i, name in zip(range(17, 30), ["WAL_READ", "WAL_STATS", "COMPACT", "FLUSH_ALL",
                                       "LIST_INSTANCES", "SNAPSHOT_INSTANCE", "WATCH_ALL",
                                       "UNWATCH", "HELLO", "AUTH", "BYE", "INFO",
                                       "WATCH_INSTANCE"]):
        err_elem(res[i], "BAD_REQUEST", "operation %s is not allowed in a batch" % name)
    err_elem(res[30], "BAD_REQUEST", "unknown operation: ping")
    assert db.latest() == 4
    # the connection is still usable (BYE inside a batch did nothing)
    db.conn.ping()


def test_best_effort_is_default_and_explicit(sdb):
    m = uniq("be")
    for mode_params in ({}, {"mode": "best_effort"}, {"mode": None}):
        ops = [op("PUT_MACHINE", {"machine": m, "version": 1, "definition": SIMPLE_DEF}),
               op("GET_MACHINE", {"machine": m, "version": 99})]
        res = sdb.ok("BATCH", dict(mode_params, ops=ops))["results"]
        assert ok_elem(res[0])["stored_checksum"] == SIMPLE_SUM
        err_elem(res[1], "MACHINE_NOT_FOUND", "machine version not found: %s v99" % m,
                 {"machine": m, "version": 99})


def test_batch_elements_use_idempotency(sdb):
    m = uniq("bi")
    sdb.put_machine(m, 1, TICK_DEF)
    key = uniq("key")
    ops = [op("CREATE_INSTANCE", {"machine": m, "version": 1, "idempotency_key": key}),
           op("CREATE_INSTANCE", {"machine": m, "version": 1, "idempotency_key": key})]
    res = sdb.ok("BATCH", {"ops": ops})["results"]
    a, b = ok_elem(res[0]), ok_elem(res[1])
    assert a == b
    iid = a["instance_id"]
    ops = [op("APPLY_EVENT", {"instance_id": iid, "event": "TICK", "idempotency_key": "k"}),
           op("APPLY_EVENT", {"instance_id": iid, "event": "TICK", "idempotency_key": "k"})]
    for mode in ("best_effort", "atomic"):
        res = sdb.ok("BATCH", {"mode": mode, "ops": ops})["results"]
        x, y = ok_elem(res[0]), ok_elem(res[1])
        assert y == dict(x, applied=False)
        ops = [op("APPLY_EVENT", {"instance_id": iid, "event": "TICK", "idempotency_key": "k2"}),
               op("APPLY_EVENT", {"instance_id": iid, "event": "TICK", "idempotency_key": "k2"})]


def test_atomic_success(db):
    db.put_machine("order", 2, ORDER_DEF)
    ops = [
        op("CREATE_INSTANCE", {"instance_id": "a", "machine": "order", "version": 2,
                               "initial_ctx": {"amount": 3}}),
        op("APPLY_EVENT", {"instance_id": "a", "event": "PAY", "event_id": "ev"}),
        op("GET_INSTANCE", {"instance_id": "a"}),
        op("CREATE_INSTANCE", {"instance_id": "b", "machine": "order", "version": 2}),
        op("DELETE_INSTANCE", {"instance_id": "b"}),
        op("GET_MACHINE", {"machine": "order", "version": 2}),
        op("PUT_MACHINE", {"machine": "new", "version": 1, "definition": SIMPLE_DEF}),
        op("CREATE_INSTANCE", {"instance_id": "c", "machine": "new", "version": 1}),
        op("DELETE_INSTANCE", {"instance_id": "b"}),
    ]
    res = db.ok("BATCH", {"mode": "atomic", "ops": ops})["results"]
    assert len(res) == len(ops)
    assert ok_elem(res[0]) == {"instance_id": "a", "state": "created", "wal_offset": 2}
    assert ok_elem(res[1])["wal_offset"] == 3
    g = ok_elem(res[2])
    assert (g["state"], g["last_wal_offset"], g["last_event_id"], g["ctx"]) == ("paid", 3, "ev",
                                                                               {"amount": 3})
    assert ok_elem(res[3])["wal_offset"] == 4
    assert ok_elem(res[4]) == {"instance_id": "b", "deleted": True, "wal_offset": 5}
    assert ok_elem(res[5])["definition"] == ORDER_DEF
    assert ok_elem(res[6])["created"] is True
    assert ok_elem(res[7])["wal_offset"] == 7
    assert ok_elem(res[8]) == {"instance_id": "b", "deleted": True, "wal_offset": 5}
    recs = db.wal_all()
    assert [(x["offset"], x["entry"]["type"]) for x in recs] == [
        (1, "put_machine"), (2, "create_instance"), (3, "apply_event"), (4, "create_instance"),
        (5, "delete_instance"), (6, "put_machine"), (7, "create_instance")]
    g = db.get("a")
    assert g["state"] == "paid" and g["last_wal_offset"] == 3
    db.err("GET_INSTANCE", {"instance_id": "b"}, "INSTANCE_NOT_FOUND")
    assert db.get("c")["state"] == "created"
    assert db.latest() == 7


def test_atomic_failure_commits_nothing(db):
    db.put_machine("order", 1, SIMPLE_DEF)
    db.create("x", "order", 1)
    ops = [op("CREATE_INSTANCE", {"instance_id": "y", "machine": "order", "version": 1,
                                  "idempotency_key": "ky"}),
           op("APPLY_EVENT", {"instance_id": "o-404", "event": "PAY"}),
           op("CREATE_INSTANCE", {"instance_id": "z", "machine": "order", "version": 1})]
    e = db.err("BATCH", {"mode": "atomic", "ops": ops}, "INSTANCE_NOT_FOUND",
               "batch operation 1 (APPLY_EVENT) failed: instance not found: o-404")
    assert e["retryable"] is False
    assert e["details"] == {"failed_index": 1, "error": {
        "code": "INSTANCE_NOT_FOUND", "message": "instance not found: o-404", "retryable": False,
        "details": {"instance_id": "o-404"}}}
    assert list(e["details"].keys()) == ["failed_index", "error"]
    assert list(e["details"]["error"].keys()) == ["code", "message", "retryable", "details"]
    st = db.stats()
    assert st["latest_offset"] == 2 and st["entry_count"] == 2
    for iid in ("y", "z"):
        db.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND")
    assert [x["offset"] for x in db.wal_all()] == [1, 2]
    # no idempotency record was committed: the key runs as a new request
    r = db.ok("CREATE_INSTANCE", {"instance_id": "y2", "machine": "order", "version": 1,
                                  "idempotency_key": "ky"})
    assert r == {"instance_id": "y2", "state": "created", "wal_offset": 3}


@pytest.mark.parametrize("case", ["invalid_transition", "dup_create", "apply_after_delete",
                                  "guard", "version_exists", "bad_params", "disallowed",
                                  "not_object", "conflict"])
def test_atomic_failure_codes(sdb, case):
    m, x, n, after = uniq("order"), uniq("x"), uniq("n"), uniq("after")
    sdb.put_machine(m, 2, ORDER_DEF)
    sdb.create(x, m, 2, {"amount": 1})
    latest = sdb.latest()
    head = [op("APPLY_EVENT", {"instance_id": x, "event": "PAY"}),
            op("CREATE_INSTANCE", {"instance_id": n, "machine": m, "version": 2})]
    if case == "invalid_transition":
        bad, code = op("APPLY_EVENT", {"instance_id": n, "event": "SHIP"}), "INVALID_TRANSITION"
        inner = "invalid transition: cannot apply 'SHIP' in state 'created'"
        details = {"current_state": "created", "event": "SHIP"}
    elif case == "dup_create":   # the private view sees the batch's own create
        bad, code = op("CREATE_INSTANCE", {"instance_id": n, "machine": m, "version": 2}), \
            "INSTANCE_EXISTS"
        inner, details = "instance already exists: %s" % n, {"instance_id": n}
    elif case == "apply_after_delete":
        head.append(op("DELETE_INSTANCE", {"instance_id": n}))
        bad, code = op("APPLY_EVENT", {"instance_id": n, "event": "CANCEL"}), "INSTANCE_NOT_FOUND"
        inner, details = "instance not found: %s" % n, {"instance_id": n}
    elif case == "guard":
        bad, code = op("APPLY_EVENT", {"instance_id": n, "event": "PAY"}), "GUARD_FAILED"
        inner = "guard failed for transition 'created' -> 'paid' on event 'PAY'"
        details = {"guard": "ctx.amount > 0 && !ctx.blocked", "current_state": "created",
                   "event": "PAY"}
    elif case == "version_exists":
        bad, code = op("PUT_MACHINE", {"machine": m, "version": 2,
                                       "definition": SIMPLE_DEF}), "MACHINE_VERSION_EXISTS"
        inner, details = "machine version already exists: %s v2" % m, None
    elif case == "bad_params":
        bad, code = op("APPLY_EVENT", {"instance_id": n}), "BAD_REQUEST"
        inner, details = "invalid request: missing field 'event'", {"field": "event"}
    elif case == "disallowed":
        bad, code = op("WAL_STATS", {}), "BAD_REQUEST"
        inner, details = "operation WAL_STATS is not allowed in a batch", None
    elif case == "not_object":
        bad, code, inner, details = "x", "BAD_REQUEST", None, None
    else:
        bad, code = op("APPLY_EVENT", {"instance_id": x, "event": "SHIP",
                                       "expected_state": "created"}), "CONFLICT"
        inner = "state conflict: expected 'created', actual 'paid'"
        details = {"expected_state": "created", "actual_state": "paid"}
    ops = head + [bad, op("CREATE_INSTANCE", {"instance_id": after, "machine": m,
                                              "version": 2})]
    idx = len(head)
    e = sdb.err("BATCH", {"mode": "atomic", "ops": ops}, code)
    assert e["details"]["failed_index"] == idx, e
    assert list(e["details"].keys()) == ["failed_index", "error"]
    inner_err = check_error_object(e["details"]["error"])
    assert inner_err["code"] == code
    assert inner_err["retryable"] is e["retryable"]
    if inner is not None:
        opname = bad["op"]
        assert e["message"] == "batch operation %d (%s) failed: %s" % (idx, opname, inner), e
        assert inner_err["message"] == inner
    if details is not None:
        assert inner_err["details"] == details, e
    # nothing committed
    assert sdb.latest() == latest
    assert sdb.get(x)["state"] == "created"
    for iid in (n, after):
        sdb.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND")


def test_atomic_replay_counts_as_success(db):
    db.put_machine("t", 1, TICK_DEF)
    c = db.ok("CREATE_INSTANCE", {"instance_id": "i", "machine": "t", "version": 1,
                                  "idempotency_key": "ck"})
    a = db.apply("i", "TICK", idempotency_key="ak")
    ops = [op("CREATE_INSTANCE", {"instance_id": "other", "machine": "t", "version": 1,
                                  "idempotency_key": "ck"}),
           op("APPLY_EVENT", {"instance_id": "i", "event": "NOPE", "idempotency_key": "ak"}),
           op("APPLY_EVENT", {"instance_id": "i", "event": "TICK"})]
    res = db.ok("BATCH", {"mode": "atomic", "ops": ops})["results"]
    assert ok_elem(res[0]) == c
    assert ok_elem(res[1]) == dict(a, applied=False)
    assert ok_elem(res[2])["wal_offset"] == a["wal_offset"] + 1
    db.err("GET_INSTANCE", {"instance_id": "other"}, "INSTANCE_NOT_FOUND")


def test_batch_size_limit(db):
    db.put_machine("t", 1, TICK_DEF)
    creates = [op("CREATE_INSTANCE", {"instance_id": "c%d" % i, "machine": "t", "version": 1})
               for i in range(101)]
    for mode in ("best_effort", "atomic"):
        e = db.err("BATCH", {"mode": mode, "ops": creates}, "BAD_REQUEST",
                   "invalid request: batch size 101 exceeds limit 100")
        assert e["retryable"] is False
    assert db.latest() == 1
    db.err("GET_INSTANCE", {"instance_id": "c0"}, "INSTANCE_NOT_FOUND")
    res = db.ok("BATCH", {"mode": "atomic", "ops": creates[:100]})["results"]
    assert [ok_elem(x)["wal_offset"] for x in res] == list(range(2, 102))
    assert db.latest() == 101


def test_batch_empty_and_param_errors(sdb):
    for params in ({"ops": []}, {"mode": "atomic", "ops": []}, {"mode": "best_effort", "ops": []}):
        msg = sdb.call("BATCH", params)
        assert rc.assert_ok(msg) == {"results": []}
        assert msg.payload.endswith(b'"result":{"results":[]}}'), msg.payload
    assert_param_error(sdb.call("BATCH", None), "ops")
    assert_param_error(sdb.call("BATCH", {"mode": "atomic"}), "ops")
    assert_param_error(sdb.call("BATCH", {"ops": None}), "ops")
    assert_param_error(sdb.call("BATCH", {"ops": {}}), "ops", "type")
    assert_param_error(sdb.call("BATCH", {"ops": "x"}), "ops", "type")
    for mode in ("ATOMIC", "foo", "", "best-effort"):
        assert_param_error(sdb.call("BATCH", {"mode": mode, "ops": []}), "mode", "value")
    assert_param_error(sdb.call("BATCH", {"mode": 1, "ops": []}), "mode", "type")
    # a bad mode runs nothing
    m = uniq("bm")
    assert_param_error(sdb.call("BATCH", {"mode": "nope", "ops": [
        op("PUT_MACHINE", {"machine": m, "version": 1, "definition": SIMPLE_DEF})]}), "mode", "value")
    sdb.err("GET_MACHINE", {"machine": m, "version": 1}, "MACHINE_NOT_FOUND")
