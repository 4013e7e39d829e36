"""Everything the server accepts it can read back after a restart (issue: trustworthy storage).

Requests may nest JSON 128 levels deep (protocol.md §4). The server stores values taken from
requests — definitions and their `meta`, ctx, payloads — and wraps them in documents of its own
(log entries, idempotency results, snapshots). Each stored kind is written here at the deepest
nesting a request can carry, the server is restarted, and every path that re-reads it is used.
Before the fix, stored JSON was re-read with Boost.JSON's default depth limit of 32: a 32-deep
`meta` made the server unable to start again.
"""

import json

import rcp_client as rc
from data_helpers import DB, db, restart, uniq  # noqa: F401 (db is a fixture)

MAX_DEPTH = 128  # protocol.md §4


def nest(depth):
    """An object nested `depth` levels: {"k":{"k":...{"k":1}...}}."""
    return json.loads('{"k":' * depth + "1" + "}" * depth)


def depth_of(value):
    d = 0
    while isinstance(value, dict):
        d += 1
        value = value.get("k")
    return d


# Where the user value sits in a request: envelope (1) > params (2) > the value (3).
VALUE_LEVEL = 3
DEEPEST = MAX_DEPTH - VALUE_LEVEL + 1  # the value itself may nest this deep


def cycle_definition(meta=None):
    d = {"states": ["a", "b"], "initial": "a",
         "transitions": [{"from": "a", "event": "GO", "to": "b"},
                         {"from": "b", "event": "GO", "to": "a"}]}
    if meta is not None:
        d["meta"] = meta
    return d


def assert_too_deep(db, op, params):
    """A request one level too deep is malformed JSON: BAD_REQUEST with id "" (protocol.md §5)."""
    db.conn.send(rc.make_request(op, params, id="too-deep"))
    msg = db.conn.recv_response()
    assert msg["id"] == "", msg
    e = rc.assert_error(msg, "BAD_REQUEST")
    assert "nesting deeper than 128" in e["message"], e


def test_limit_is_where_we_think(db):
    """The deepest value below is accepted, one level more is refused: the tests below
    really run at the maximum accepted depth."""
    m = uniq("m")
    # `meta` sits one level below the definition.
    db.put_machine(m, 1, cycle_definition(meta=nest(DEEPEST - 1)))
    assert_too_deep(db, "PUT_MACHINE", {"machine": m, "version": 2,
                                        "definition": cycle_definition(meta=nest(DEEPEST))})
    db.create(uniq("i"), m, 1, ctx=nest(DEEPEST))
    assert_too_deep(db, "CREATE_INSTANCE", {"machine": m, "version": 1, "initial_ctx": nest(DEEPEST + 1)})


def test_every_stored_kind_reads_back_after_restart(server_factory):
    srv = server_factory()
    m = uniq("m")
    meta = nest(DEEPEST - 1)
    deep = nest(DEEPEST)
    with DB(srv) as db:
        put = db.put_machine(m, 1, cycle_definition(meta=meta))
        # ctx from CREATE_INSTANCE, then a payload merged into another instance's ctx.
        db.create("ctx-deep", m, 1, ctx=deep)
        db.create("payload-deep", m, 1)
        applied = db.apply("payload-deep", "GO", payload=deep, idempotency_key="idem-1")
        assert depth_of(applied["ctx"]) == DEEPEST
        snap_before = db.ok("SNAPSHOT_INSTANCE", {"instance_id": "ctx-deep"})
        latest = db.latest()

    srv = restart(server_factory, srv)  # before the fix: exit 1, "too deep"
    with DB(srv) as db:
        # definition + meta (loaded at startup), exactly as submitted
        got = db.ok("GET_MACHINE", {"machine": m, "version": 1})
        assert got["definition"] == cycle_definition(meta=meta)
        assert got["checksum"] == put["stored_checksum"]
        # ctx: read, and re-parsed by the engine for guards and merges
        assert db.get("ctx-deep")["ctx"] == deep
        r = db.apply("ctx-deep", "GO", payload={"x": 1})
        assert r["ctx"]["k"] == deep["k"] and r["ctx"]["x"] == 1
        # payload merged into ctx, and the log entry that carries both
        assert db.get("payload-deep")["ctx"]["k"] == deep["k"]
        entries = [rec["entry"] for rec in db.wal_all()]
        applies = [e for e in entries if e["type"] == "apply_event" and e["instance_id"] == "payload-deep"]
        assert applies and applies[0]["payload"] == deep
        # idempotency result: the original result, applied:false
        replay = db.apply("payload-deep", "GO", payload={}, idempotency_key="idem-1")
        assert replay == dict(applied, applied=False)
        # snapshot: a new one of the deep ctx, and COMPACT force_snapshot, which re-reads the
        # stored snapshot documents of every instance
        snap = db.ok("SNAPSHOT_INSTANCE", {"instance_id": "ctx-deep"})
        assert snap["snapshot_id"] != snap_before["snapshot_id"]
        c = db.ok("COMPACT", {"force_snapshot": True})
        assert c["snapshots_created"] >= 1
        assert db.latest() == latest + 1

    srv = restart(server_factory, srv)  # the snapshots and the new entries reopen too
    with DB(srv) as db:
        assert db.get("ctx-deep")["ctx"]["x"] == 1
        assert db.ok("COMPACT", {"force_snapshot": True})["snapshots_created"] == 0


def test_batch_elements_at_their_deepest(server_factory):
    """A BATCH element's params sit deeper in the request (envelope > params > ops > element >
    params > value), so its values can nest less; they too read back."""
    srv = server_factory()
    m = uniq("m")
    deepest_in_batch = MAX_DEPTH - 6 + 1
    with DB(srv) as db:
        db.put_machine(m, 1, cycle_definition())
        r = db.ok("BATCH", {"mode": "atomic", "ops": [
            {"op": "CREATE_INSTANCE", "params": {"instance_id": "b1", "machine": m, "version": 1,
                                                 "initial_ctx": nest(deepest_in_batch)}},
            {"op": "APPLY_EVENT", "params": {"instance_id": "b1", "event": "GO",
                                             "payload": nest(deepest_in_batch),
                                             "idempotency_key": "k"}}]})
        assert [x["status"] for x in r["results"]] == ["ok", "ok"]
    srv = restart(server_factory, srv)
    with DB(srv) as db:
        assert db.get("b1")["ctx"] == nest(deepest_in_batch)
        replay = db.apply("b1", "GO", payload={}, idempotency_key="k")
        assert replay["applied"] is False and replay["ctx"] == nest(deepest_in_batch)
