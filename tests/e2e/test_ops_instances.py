"""CREATE_INSTANCE, GET_INSTANCE, LIST_INSTANCES, DELETE_INSTANCE and tombstones
(operations.md §5-8, §22, §23)."""

import pytest

from data_helpers import (DB, INSTANCE_KEYS, LIST_ITEM_KEYS, ORDER_DEF, SIMPLE_DEF,  # noqa: F401,F811
                          UUID4_RE, assert_param_error, check_entry_shape, check_timestamp,
                          db, keys_in_order, now_ms, sdb, uniq)


# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

@pytest.fixture(scope="module")
def mach(server):
    """A machine on the module server: SIMPLE_DEF as v1, ORDER_DEF as v2."""
    name = uniq("inst")
    with DB(server) as d:
        d.put_machine(name, 1, SIMPLE_DEF)
        d.put_machine(name, 2, ORDER_DEF)
    return name


# ---- CREATE_INSTANCE -------------------------------------------------------------------

def test_create_result_and_offsets(db):
    db.put_machine("order", 1, SIMPLE_DEF)
    t0 = now_ms()
    r = db.create("order-001", "order", 1)
    t1 = now_ms()
    assert list(r.items()) == [("instance_id", "order-001"), ("state", "created"),
                               ("wal_offset", 2)]
    g = db.get("order-001")
    assert list(g.items()) == [("instance_id", "order-001"), ("machine", "order"),
                               ("version", 1), ("state", "created"), ("ctx", {}),
                               ("last_wal_offset", 2), ("created_at", g["created_at"]),
                               ("updated_at", g["created_at"])]
    check_timestamp(g["created_at"], t0, t1)
    recs = db.wal_all()
    assert [x["offset"] for x in recs] == [1, 2]
    e = recs[1]["entry"]
    check_entry_shape(e)
    assert list(e.items())[:-1] == [("type", "create_instance"), ("instance_id", "order-001"),
                                    ("machine", "order"), ("version", 1),
                                    ("initial_state", "created"), ("initial_ctx", {})]
    check_timestamp(e["timestamp"], t0, t1)
    assert db.create("order-002", "order", 1, {"k": [1, {"z": 1, "a": None}]})["wal_offset"] == 3


def test_create_generated_uuid(sdb, mach):
    ids = set()
    for _ in range(5):
        r = sdb.ok("CREATE_INSTANCE", {"machine": mach, "version": 1})
        assert UUID4_RE.match(r["instance_id"]), r
        assert len(r["instance_id"]) == 36
        assert r["state"] == "created"
        ids.add(r["instance_id"])
        assert sdb.get(r["instance_id"])["instance_id"] == r["instance_id"]
    assert len(ids) == 5
    # instance_id null counts as absent
    r = sdb.ok("CREATE_INSTANCE", {"instance_id": None, "machine": mach, "version": 1})
    assert UUID4_RE.match(r["instance_id"]), r


def test_create_aliases(sdb, mach):
    a = uniq("alias")
    r = sdb.ok("CREATE_INSTANCE", {"id": a, "machine": mach, "version": 1,
                                   "context": {"customer": "alice", "n": 1}})
    assert r["instance_id"] == a
    g = sdb.ok("GET_INSTANCE", {"id": a})
    assert g["instance_id"] == a and g["ctx"] == {"customer": "alice", "n": 1}
    assert list(g["ctx"].keys()) == ["customer", "n"]
    # canonical spelling wins over the alias
    b, c = uniq("canon"), uniq("alias")
    r = sdb.ok("CREATE_INSTANCE", {"id": c, "instance_id": b, "machine": mach, "version": 1,
                                   "context": {"from": "alias"}, "initial_ctx": {"from": "canon"}})
    assert r["instance_id"] == b
    assert sdb.get(b)["ctx"] == {"from": "canon"}
    sdb.err("GET_INSTANCE", {"instance_id": c}, "INSTANCE_NOT_FOUND")
    # GET with both spellings -> instance_id wins
    assert sdb.ok("GET_INSTANCE", {"instance_id": b, "id": a})["instance_id"] == b


@pytest.mark.parametrize("ctx", [[], [1], "x", 5, 1.5, True, False])
def test_create_initial_ctx_not_object(sdb, mach, ctx):
    iid = uniq("ctx")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": iid, "machine": mach,
                                                    "version": 1, "initial_ctx": ctx}),
                       "initial_ctx", "type")
    e = sdb.err("CREATE_INSTANCE", {"instance_id": iid, "machine": mach, "version": 1,
                                    "context": ctx}, "BAD_REQUEST")
    assert e["details"]["field"] in ("initial_ctx", "context"), e
    sdb.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND")


def test_create_initial_ctx_null_is_empty(sdb, mach):
    iid = uniq("null")
    sdb.ok("CREATE_INSTANCE", {"instance_id": iid, "machine": mach, "version": 1,
                               "initial_ctx": None})
    assert sdb.get(iid)["ctx"] == {}


def test_create_instance_exists(sdb, mach):
    iid = uniq("dup")
    sdb.create(iid, mach, 1, {"a": 1})
    before = sdb.latest()
    e = sdb.err("CREATE_INSTANCE", {"instance_id": iid, "machine": mach, "version": 1},
                "INSTANCE_EXISTS", "instance already exists: %s" % iid,
                details={"instance_id": iid})
    assert e["retryable"] is False
    # existence is checked before the machine
    sdb.err("CREATE_INSTANCE", {"instance_id": iid, "machine": uniq("nomachine"), "version": 1},
            "INSTANCE_EXISTS", "instance already exists: %s" % iid, details={"instance_id": iid})
    assert sdb.latest() == before
    assert sdb.get(iid)["ctx"] == {"a": 1}


def test_create_machine_not_found(sdb, mach):
    iid = uniq("nm")
    nm = uniq("nomachine")
    before = sdb.latest()
    e = sdb.err("CREATE_INSTANCE", {"instance_id": iid, "machine": nm, "version": 1},
                "MACHINE_NOT_FOUND", "machine version not found: %s v1" % nm,
                details={"machine": nm, "version": 1})
    assert "not found" in e["message"]
    sdb.err("CREATE_INSTANCE", {"instance_id": iid, "machine": mach, "version": 9},
            "MACHINE_NOT_FOUND", "machine version not found: %s v9" % mach,
            details={"machine": mach, "version": 9})
    assert sdb.latest() == before
    sdb.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND")


def test_create_param_errors(sdb, mach):
    iid = uniq("p")
    assert_param_error(sdb.call("CREATE_INSTANCE", None), "machine")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": iid, "version": 1}), "machine")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": iid, "machine": mach}), "version")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": 5, "machine": mach,
                                                    "version": 1}), "instance_id", "type")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": iid, "machine": [mach],
                                                    "version": 1}), "machine", "type")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": iid, "machine": mach,
                                                    "version": "1"}), "version", "type")
    assert_param_error(sdb.call("CREATE_INSTANCE", {"instance_id": iid, "machine": mach,
                                                    "version": 1, "idempotency_key": 5}),
                       "idempotency_key", "type")
    sdb.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND")


def test_create_idempotency(db):
    db.put_machine("order", 2, ORDER_DEF)
    r1 = db.ok("CREATE_INSTANCE", {"machine": "order", "version": 2, "idempotency_key": "k1",
                                   "initial_ctx": {"amount": 5}})
    iid = r1["instance_id"]
    assert UUID4_RE.match(iid) and r1["wal_offset"] == 2
    # replay: the original result, other params are not compared, nothing written
    for params in ({"machine": "order", "version": 2, "idempotency_key": "k1"},
                   {"instance_id": "other", "machine": "nope", "version": 7, "idempotency_key": "k1"}):
        assert db.ok("CREATE_INSTANCE", params) == r1
        assert list(db.ok("CREATE_INSTANCE", params).keys()) == ["instance_id", "state", "wal_offset"]
    assert db.latest() == 2
    db.err("GET_INSTANCE", {"instance_id": "other"}, "INSTANCE_NOT_FOUND")
    # replay after the instance changed
    db.apply(iid, "PAY")
    assert db.ok("CREATE_INSTANCE", {"machine": "order", "version": 2, "idempotency_key": "k1"}) == r1
    # ... and after it was deleted
    db.delete(iid)
    latest = db.latest()
    assert db.ok("CREATE_INSTANCE", {"machine": "order", "version": 2, "idempotency_key": "k1"}) == r1
    assert db.latest() == latest
    # a different key creates a new instance
    r2 = db.ok("CREATE_INSTANCE", {"machine": "order", "version": 2, "idempotency_key": "k2"})
    assert r2["instance_id"] != iid and r2["wal_offset"] == latest + 1
    # the key is recorded in the create_instance entry
    entry = db.wal_read(from_offset=r2["wal_offset"], limit=1)["records"][0]["entry"]
    assert entry["idempotency_key"] == "k2"
    check_entry_shape(entry)
    # the record is written only on success: a failed create with a key can be retried
    db.err("CREATE_INSTANCE", {"instance_id": "late", "machine": "late", "version": 1,
                               "idempotency_key": "k3"}, "MACHINE_NOT_FOUND")
    db.put_machine("late", 1, SIMPLE_DEF)
    r3 = db.ok("CREATE_INSTANCE", {"instance_id": "late", "machine": "late", "version": 1,
                                   "idempotency_key": "k3"})
    assert r3["instance_id"] == "late"
    assert db.ok("CREATE_INSTANCE", {"instance_id": "late", "machine": "late", "version": 1,
                                     "idempotency_key": "k3"}) == r3


def test_create_empty_idempotency_key_is_absent(sdb, mach):
    iid = uniq("ek")
    r = sdb.ok("CREATE_INSTANCE", {"instance_id": iid, "machine": mach, "version": 1,
                                   "idempotency_key": ""})
    sdb.err("CREATE_INSTANCE", {"instance_id": iid, "machine": mach, "version": 1,
                                "idempotency_key": ""}, "INSTANCE_EXISTS")
    a = sdb.ok("CREATE_INSTANCE", {"machine": mach, "version": 1, "idempotency_key": ""})
    b = sdb.ok("CREATE_INSTANCE", {"machine": mach, "version": 1, "idempotency_key": ""})
    assert a["instance_id"] != b["instance_id"] != r["instance_id"]
    assert b["wal_offset"] == a["wal_offset"] + 1
    entry = sdb.wal_read(from_offset=a["wal_offset"], limit=1)["records"][0]["entry"]
    assert "idempotency_key" not in entry, entry
    # idempotency_key null is absent too
    c = sdb.ok("CREATE_INSTANCE", {"machine": mach, "version": 1, "idempotency_key": None})
    assert c["instance_id"] != b["instance_id"]


# ---- GET_INSTANCE ------------------------------------------------------------------------

def test_get_instance_fields(sdb, mach):
    iid = uniq("get")
    t0 = now_ms()
    sdb.create(iid, mach, 2, {"customer": "alice", "amount": 99.99})
    g1 = sdb.get(iid)
    keys_in_order(g1, INSTANCE_KEYS)
    assert "last_event_id" not in g1
    assert g1["ctx"] == {"customer": "alice", "amount": 99.99}
    assert g1["created_at"] == g1["updated_at"]
    r = sdb.apply(iid, "PAY", {"note": "x"}, event_id="evt-1")
    t1 = now_ms()
    g2 = sdb.get(iid)
    assert list(g2.keys()) == INSTANCE_KEYS
    assert g2 == {"instance_id": iid, "machine": mach, "version": 2, "state": "paid",
                  "ctx": {"customer": "alice", "amount": 99.99, "note": "x"},
                  "last_event_id": "evt-1", "last_wal_offset": r["wal_offset"],
                  "created_at": g1["created_at"], "updated_at": g2["updated_at"]}
    assert g2["updated_at"] >= g2["created_at"]
    check_timestamp(g2["created_at"], t0, t1)
    check_timestamp(g2["updated_at"], t0, t1)
    # GET writes nothing
    before = sdb.latest()
    sdb.get(iid)
    assert sdb.latest() == before


def test_get_instance_errors(sdb, mach):
    iid = uniq("gone")
    e = sdb.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND",
                "instance not found: %s" % iid, details={"instance_id": iid})
    assert "not found" in e["message"] and e["retryable"] is False
    sdb.create(iid, mach, 1)
    sdb.delete(iid)
    sdb.err("GET_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND",
            "instance not found: %s" % iid, details={"instance_id": iid})
    sdb.err("GET_INSTANCE", {"id": iid}, "INSTANCE_NOT_FOUND", details={"instance_id": iid})
    assert_param_error(sdb.call("GET_INSTANCE", None), "instance_id")
    assert_param_error(sdb.call("GET_INSTANCE", {"instance_id": None}), "instance_id")
    assert_param_error(sdb.call("GET_INSTANCE", {"instance_id": 1}), "instance_id", "type")
    sdb.err("GET_INSTANCE", {"instance_id": ""}, "INSTANCE_NOT_FOUND", "instance not found: ",
            details={"instance_id": ""})


# ---- LIST_INSTANCES ------------------------------------------------------------------

@pytest.fixture
def listing(db):
    db.put_machine("m1", 1, SIMPLE_DEF)
    db.put_machine("m2", 3, SIMPLE_DEF)
    for iid, m, v in [("i3", "m1", 1), ("i0", "m1", 1), ("i1", "m1", 1), ("i2", "m2", 3),
                      ("i10", "m1", 1), ("\u00e9", "m2", 3), ("Z", "m1", 1)]:
        db.create(iid, m, v)
    db.apply("i1", "PAY")
    db.apply("i2", "PAY")
    db.delete("i0")
    return db


ALL_IDS = ["Z", "i1", "i10", "i2", "i3", "\u00e9"]


def _ids(r):
    return [x["id"] for x in r["instances"]]


def test_list_instances_items(listing):
    d = listing
    for params in (None, {}):
        r = d.ok("LIST_INSTANCES", params)
        assert list(r.keys()) == ["instances", "total", "has_more"]
        assert _ids(r) == ALL_IDS
        assert r["total"] == 6 and r["has_more"] is False
    for item in r["instances"]:
        assert list(item.keys()) == LIST_ITEM_KEYS
        g = d.get(item["id"])
        assert item == {"id": g["instance_id"], "machine": g["machine"], "version": g["version"],
                        "state": g["state"], "created_at": g["created_at"],
                        "updated_at": g["updated_at"], "last_wal_offset": g["last_wal_offset"]}


def test_list_instances_filters(listing):
    d = listing
    r = d.ok("LIST_INSTANCES", {"machine": "m1"})
    assert _ids(r) == ["Z", "i1", "i10", "i3"] and r["total"] == 4 and r["has_more"] is False
    r = d.ok("LIST_INSTANCES", {"state": "paid"})
    assert _ids(r) == ["i1", "i2"] and r["total"] == 2
    r = d.ok("LIST_INSTANCES", {"machine": "m2", "state": "created"})
    assert _ids(r) == ["\u00e9"] and r["total"] == 1
    r = d.ok("LIST_INSTANCES", {"machine": "m1", "state": "paid"})
    assert _ids(r) == ["i1"]
    assert d.ok("LIST_INSTANCES", {"machine": "M1"}) == {"instances": [], "total": 0, "has_more": False}
    assert d.ok("LIST_INSTANCES", {"state": "Paid"}) == {"instances": [], "total": 0, "has_more": False}
    assert _ids(d.ok("LIST_INSTANCES", {"machine": None, "state": None})) == ALL_IDS


def test_list_instances_paging(listing):
    d = listing
    r = d.ok("LIST_INSTANCES", {"limit": 2})
    assert _ids(r) == ALL_IDS[:2] and r["total"] == 6 and r["has_more"] is True
    r = d.ok("LIST_INSTANCES", {"limit": 2, "offset": 2})
    assert _ids(r) == ALL_IDS[2:4] and r["has_more"] is True
    r = d.ok("LIST_INSTANCES", {"limit": 2, "offset": 4})
    assert _ids(r) == ALL_IDS[4:] and r["has_more"] is False
    r = d.ok("LIST_INSTANCES", {"offset": 5})
    assert _ids(r) == ALL_IDS[5:] and r["total"] == 6 and r["has_more"] is False
    for off in (6, 100, 4294967295):
        assert d.ok("LIST_INSTANCES", {"offset": off}) == {"instances": [], "total": 6,
                                                           "has_more": False}
    # limit 0: no items, total still reported, has_more = offset + 0 < total
    assert d.ok("LIST_INSTANCES", {"limit": 0}) == {"instances": [], "total": 6, "has_more": True}
    assert d.ok("LIST_INSTANCES", {"limit": 0, "offset": 6}) == {"instances": [], "total": 6,
                                                                 "has_more": False}
    r = d.ok("LIST_INSTANCES", {"machine": "m1", "limit": 1, "offset": 1})
    assert _ids(r) == ["i1"] and r["total"] == 4 and r["has_more"] is True
    assert_param_error(d.call("LIST_INSTANCES", {"limit": "2"}), "limit", "type")
    assert_param_error(d.call("LIST_INSTANCES", {"offset": -1}), "offset", "type_or_value")
    assert_param_error(d.call("LIST_INSTANCES", {"machine": 1}), "machine", "type")
    assert_param_error(d.call("LIST_INSTANCES", {"state": ["paid"]}), "state", "type")


def test_list_instances_default_limit_100(db):
    db.put_machine("m", 1, SIMPLE_DEF)
    ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": "n%03d" % i, "machine": "m",
                                                "version": 1}} for i in range(100)]
    res = db.ok("BATCH", {"mode": "atomic", "ops": ops})["results"]
    assert all(x["status"] == "ok" for x in res)
    db.create("n100", "m", 1)
    r = db.ok("LIST_INSTANCES")
    assert len(r["instances"]) == 100 and r["total"] == 101 and r["has_more"] is True
    assert _ids(r) == ["n%03d" % i for i in range(100)]
    r = db.ok("LIST_INSTANCES", {"offset": 100})
    assert _ids(r) == ["n100"] and r["has_more"] is False
    assert len(db.ok("LIST_INSTANCES", {"limit": 1000})["instances"]) == 101


# ---- DELETE_INSTANCE ---------------------------------------------------------------

def test_delete_instance(db):
    db.put_machine("order", 1, SIMPLE_DEF)
    db.create("x", "order", 1, {"a": 1})
    r = db.delete("x")
    assert list(r.items()) == [("instance_id", "x"), ("deleted", True), ("wal_offset", 3)]
    assert db.latest() == 3
    # second delete: same result, no new entry
    assert db.delete("x") == r
    assert db.ok("DELETE_INSTANCE", {"id": "x"}) == r
    assert db.latest() == 3
    entry = db.wal_read(from_offset=3)["records"][0]["entry"]
    check_entry_shape(entry)
    assert list(entry.items())[:-1] == [("type", "delete_instance"), ("instance_id", "x"),
                                        ("machine", "order"), ("version", 1)]
    # tombstone behaviour
    e = db.err("GET_INSTANCE", {"instance_id": "x"}, "INSTANCE_NOT_FOUND",
               "instance not found: x", details={"instance_id": "x"})
    db.err("APPLY_EVENT", {"instance_id": "x", "event": "PAY"}, "INSTANCE_NOT_FOUND",
           "instance not found: x", details={"instance_id": "x"})
    db.err("SNAPSHOT_INSTANCE", {"instance_id": "x"}, "INSTANCE_NOT_FOUND",
           "instance not found: x", details={"instance_id": "x"})
    assert db.ok("LIST_INSTANCES") == {"instances": [], "total": 0, "has_more": False}
    assert db.latest() == 3
    assert "not found" in e["message"]


def test_delete_errors(sdb, mach):
    iid = uniq("nodel")
    before = sdb.latest()
    sdb.err("DELETE_INSTANCE", {"instance_id": iid}, "INSTANCE_NOT_FOUND",
            "instance not found: %s" % iid, details={"instance_id": iid})
    sdb.err("DELETE_INSTANCE", {"instance_id": iid, "idempotency_key": "k"}, "INSTANCE_NOT_FOUND",
            "instance not found: %s" % iid, details={"instance_id": iid})
    assert sdb.latest() == before
    assert_param_error(sdb.call("DELETE_INSTANCE", None), "instance_id")
    assert_param_error(sdb.call("DELETE_INSTANCE", {"instance_id": 7}), "instance_id", "type")
    sdb.create(iid, mach, 1)
    assert_param_error(sdb.call("DELETE_INSTANCE", {"instance_id": iid, "idempotency_key": 7}),
                       "idempotency_key", "type")
    assert sdb.get(iid)["state"] == "created"


def test_delete_idempotency(sdb, mach):
    iid = uniq("delk")
    sdb.create(iid, mach, 1)
    r = sdb.delete(iid, idempotency_key="dk")
    latest = sdb.latest()
    assert r["wal_offset"] == latest
    entry = sdb.wal_read(from_offset=latest, limit=1)["records"][0]["entry"]
    assert entry["type"] == "delete_instance" and entry["idempotency_key"] == "dk"
    check_entry_shape(entry)
    assert sdb.delete(iid, idempotency_key="dk") == r
    assert sdb.delete(iid, idempotency_key="other") == r
    assert sdb.delete(iid, idempotency_key="") == r
    assert sdb.delete(iid) == r
    assert sdb.latest() == latest


def test_recreate_after_delete(db):
    db.put_machine("order", 2, ORDER_DEF)
    c1 = db.create("x", "order", 2, {"amount": 5, "old": True})
    a1 = db.apply("x", "PAY", idempotency_key="ak", event_id="e1")
    g_old = db.get("x")
    d1 = db.delete("x", idempotency_key="dk")
    assert (c1["wal_offset"], a1["wal_offset"], d1["wal_offset"]) == (2, 3, 4)
    c2 = db.create("x", "order", 2, {"fresh": 1})
    assert c2 == {"instance_id": "x", "state": "created", "wal_offset": 5}
    g = db.get("x")
    assert g["state"] == "created" and g["ctx"] == {"fresh": 1}
    assert "last_event_id" not in g
    assert g["last_wal_offset"] == 5
    assert g["created_at"] >= g_old["created_at"] and g["updated_at"] == g["created_at"]
    assert _ids(db.ok("LIST_INSTANCES")) == ["x"]
    # the old incarnation's idempotency records are gone: "ak" runs as a new request
    r = db.ok("APPLY_EVENT", {"instance_id": "x", "event": "CANCEL", "idempotency_key": "ak"})
    assert r["applied"] is True and r["to_state"] == "cancelled" and r["wal_offset"] == 6
    # ... and "dk" too
    d2 = db.delete("x", idempotency_key="dk")
    assert d2 == {"instance_id": "x", "deleted": True, "wal_offset": 7}
    types = [x["entry"]["type"] for x in db.wal_all()]
    assert types == ["put_machine", "create_instance", "apply_event", "delete_instance",
                     "create_instance", "apply_event", "delete_instance"]


def test_recreate_disallowed(server_factory):
    srv = server_factory(["--set", "storage.allow_instance_recreate=false"])
    with DB(srv) as d:
        d.put_machine("order", 1, SIMPLE_DEF)
        d.create("x", "order", 1)
        r = d.delete("x")
        e = d.err("CREATE_INSTANCE", {"instance_id": "x", "machine": "order", "version": 1},
                  "INSTANCE_EXISTS", "instance already exists: x", details={"instance_id": "x"})
        assert e["retryable"] is False
        assert d.latest() == 3
        d.err("GET_INSTANCE", {"instance_id": "x"}, "INSTANCE_NOT_FOUND")
        assert d.delete("x") == r
        # other ids are unaffected
        assert d.create("y", "order", 1)["wal_offset"] == 4
