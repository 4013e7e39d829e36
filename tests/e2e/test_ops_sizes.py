"""Size limits of data ops and JSON fidelity of user data (operations.md §2, §10, §12, §25.2;
protocol.md §6.6)."""

import re

import pytest

import rcp_client as rc
from data_helpers import DB, SIMPLE_DEF, TICK_DEF, check_wal_read_result, db, sdb, uniq  # noqa: F401,F811

# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

MAX_ENTRY = 16711680
ENTRY_TOO_LARGE_RE = re.compile(r"^change-log entry too large \((\d+) bytes, max 16711680\)$")


def _too_large(e):
    m = ENTRY_TOO_LARGE_RE.match(e["message"])
    assert m, e["message"][:300]
    assert int(m.group(1)) > MAX_ENTRY
    assert e["retryable"] is False


@pytest.fixture
def big(server_factory):
    srv = server_factory(["--set", "storage.fsync_policy=never"])
    with DB(srv, fast=True, timeout=30) as d:
        yield d


def test_entry_size_limits_and_wal_read_of_huge_entry(big):
    db = big
    db.put_machine("t", 1, TICK_DEF)                                          # 1
    db.create("small", "t", 1, {"v": 1})                                      # 2
    # PUT_MACHINE: the entry carries the definition as submitted
    e = db.err("PUT_MACHINE", {"machine": "huge", "version": 1,
                               "definition": dict(TICK_DEF, meta={"x": "m" * 16720000})},
               "BAD_REQUEST")
    _too_large(e)
    db.err("GET_MACHINE", {"machine": "huge", "version": 1}, "MACHINE_NOT_FOUND")
    # an entry above the limit is rejected before anything is written
    e = db.err("CREATE_INSTANCE", {"instance_id": "huge", "machine": "t", "version": 1,
                                   "initial_ctx": {"x": "a" * 16720000}}, "BAD_REQUEST")
    _too_large(e)
    assert db.latest() == 2
    db.err("GET_INSTANCE", {"instance_id": "huge"}, "INSTANCE_NOT_FOUND")
    # just below the limit: accepted
    big = "b" * 16690000
    assert db.create("big", "t", 1, {"x": big})["wal_offset"] == 3          # 3
    g = db.get("big")
    assert g["ctx"] == {"x": big}
    # the merged ctx would push the apply entry over the limit
    e = db.err("APPLY_EVENT", {"instance_id": "big", "event": "TICK",
                               "payload": {"y": "c" * 40000}}, "BAD_REQUEST")
    _too_large(e)
    assert db.latest() == 3 and db.get("big")["last_wal_offset"] == 3
    db.create("after", "t", 1)                                                # 4
    # WAL_READ: the page stops before the huge entry (it cannot fit), hasMore is true
    r = db.wal_read()
    check_wal_read_result(r)
    assert [x["offset"] for x in r["records"]] == [1, 2]
    assert r["next_offset"] == 3 and r["hasMore"] is True
    e = db.err("WAL_READ", {"from_offset": 3}, "BAD_REQUEST",
               "log entry at offset 3 is too large to return", details={"offset": 3})
    assert e["retryable"] is False
    r = db.wal_read(from_offset=4)
    assert [x["offset"] for x in r["records"]] == [4] and r["hasMore"] is False
    # the connection survives all of this
    db.conn.ping()


def test_wal_read_page_shortened_to_fit(big):
    db = big
    db.put_machine("t", 1, TICK_DEF)
    for i in range(4):
        db.create("i%d" % i, "t", 1, {"x": str(i) * 3000000})     # ~6 MB per record in WAL_READ
    r = db.wal_read()
    check_wal_read_result(r)
    offs = [x["offset"] for x in r["records"]]
    assert offs[0] == 1 and len(offs) < 5, offs
    assert r["hasMore"] is True
    got = offs
    nxt = r["next_offset"]
    while True:
        r = db.wal_read(from_offset=nxt)
        check_wal_read_result(r, nxt)
        got += [x["offset"] for x in r["records"]]
        assert r["records"], r.keys()
        if not r["hasMore"]:
            break
        nxt = r["next_offset"]
    assert got == [1, 2, 3, 4, 5]


def test_batch_response_too_large_keeps_writes(big):
    db = big
    db.put_machine("t", 1, TICK_DEF)
    db.create("big", "t", 1, {"x": "z" * 4000000})
    ops = ([{"op": "CREATE_INSTANCE", "params": {"instance_id": "n", "machine": "t", "version": 1}}]
           + [{"op": "GET_INSTANCE", "params": {"instance_id": "big"}}] * 5)
    e = db.err("BATCH", {"mode": "atomic", "ops": ops}, "BAD_REQUEST")
    assert re.match(r"^response too large \(\d+ bytes\)$", e["message"]), e
    assert int(e["message"].split("(")[1].split()[0]) > 16 * 1024 * 1024
    # its writes stay committed
    assert db.get("n")["last_wal_offset"] == 3
    assert db.latest() == 3
    db.conn.ping()


def test_json_fidelity_in_ctx(sdb):
    m = uniq("num")
    sdb.put_machine(m, 1, TICK_DEF)
    iid = uniq("n")
    ctx = ('{"a":18446744073709551615,"b":-9223372036854775808,"c":1e2,"d":0.1,"e":-0.0,'
           '"f":"\\u0001\\u001f/\\u00e9\\ud83d\\ude00\\t","z":{"y":1,"x":2},"a2":1.5,"dup":1,"dup":2}')
    msg = sdb.call_raw_params("CREATE_INSTANCE", '{"instance_id":"%s","machine":"%s","version":1,'
                                                 '"initial_ctx":%s}' % (iid, m, ctx))
    rc.assert_ok(msg)
    want = ('"ctx":{"a":18446744073709551615,"b":-9223372036854775808,"c":100.0,"d":0.1,'
            '"e":-0.0,"f":"\\u0001\\u001f/\u00e9\U0001F600\\t","z":{"y":1,"x":2},"a2":1.5,"dup":2}')
    g = sdb.call("GET_INSTANCE", {"instance_id": iid})
    assert want.encode("utf-8") in g.payload, g.payload
    r = sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "TICK"})
    assert want.encode("utf-8") in r.payload, r.payload
    # duplicate keys in params: the last occurrence wins
    msg = sdb.call_raw_params("GET_INSTANCE", '{"instance_id":"nope","instance_id":"%s"}' % iid)
    assert rc.assert_ok(msg)["instance_id"] == iid


def test_ids_with_control_characters(sdb):
    m = uniq("ctl")
    sdb.put_machine(m, 1, SIMPLE_DEF)
    iid = uniq("\x01a\"b\\c\n")
    sdb.create(iid, m, 1)
    msg = sdb.call("GET_INSTANCE", {"instance_id": iid})
    assert rc.assert_ok(msg)["instance_id"] == iid
    assert b'"instance_id":"\\u0001a\\"b\\\\c\\n' in msg.payload, msg.payload
    e = sdb.call("APPLY_EVENT", {"instance_id": iid, "event": "\x02"})
    err = rc.assert_error(e, "INVALID_TRANSITION")
    assert err["details"] == {"current_state": "created", "event": "\x02"}
    assert b"'\\u0002'" in e.payload


def test_list_instances_page_shortened_to_fit(big):
    db = big
    db.put_machine("t", 1, TICK_DEF)
    for b in range(2):
        ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": "%02d" % (b * 50 + i) + "x" * 200000,
                                                    "machine": "t", "version": 1}}
               for i in range(50)]
        res = db.ok("BATCH", {"mode": "atomic", "ops": ops})["results"]
        assert all(r["status"] == "ok" for r in res)
    r = db.ok("LIST_INSTANCES", {"limit": 100})
    n = len(r["instances"])
    assert 0 < n < 100, n
    assert r["total"] == 100 and r["has_more"] is True
    assert [x["id"][:2] for x in r["instances"]] == ["%02d" % i for i in range(n)]
    r2 = db.ok("LIST_INSTANCES", {"limit": 100, "offset": n})
    m = len(r2["instances"])
    assert m > 0 and r2["total"] == 100
    assert r2["has_more"] is (n + m < 100)
    assert r2["instances"][0]["id"][:2] == "%02d" % n
