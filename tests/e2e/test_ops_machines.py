"""PUT_MACHINE, GET_MACHINE, LIST_MACHINES, definition validation and checksums
(operations.md §2-4, §19, §20.6)."""

import json
import re

import pytest

import rcp_client as rc
from data_helpers import (DB, ORDER_DEF, SIMPLE_DEF, SIMPLE_SUM, assert_param_error,  # noqa: F401,F811
                          checksum_of, db, dump_ordered, sdb, uniq)

ROW1 = ('{"states":["created","paid"],"initial":"created",'
        '"transitions":[{"from":"created","event":"PAY","to":"paid"}]}')

# §19.4 "same as row 1" forms (all must give 26adbd14).
EQUIVALENT_ROW1 = [
    ROW1,
    '{"transitions":[{"to":"paid","event":"PAY","from":["created"]}],"initial":"created",'
    '"states":["created","paid"]}',
    '{"states":["created","paid"],"initial":"created",'
    '"transitions":[{"from":"created","event":"PAY","to":"paid","guard":null}]}',
    '{"states":["created","paid"],"initial":"created",'
    '"transitions":[{"from":"created","event":"PAY","to":"paid"}],"meta":null}',
    '{"states":["created","paid"],"initial":"created",'
    '"transitions":[{"from":"created","event":"PAY","to":"paid","guard":null}],"meta":null}',
    # unknown keys are ignored for the checksum
    '{"states":["created","paid"],"initial":"created","x":{"y":1},'
    '"transitions":[{"note":"n","from":["created"],"event":"PAY","to":"paid"}]}',
]

ROW3 = ('{"meta":{"b":"x","a":1},"initial":"created","states":["created","paid","shipped"],'
        '"transitions":[{"from":"created","event":"PAY","to":"paid"},{"event":"SHIP",'
        '"from":["paid"],"guard":"ctx.ready","to":"shipped","note":"ignored"}],"extra":true}')
ROW4 = ('{"states":["a"],"initial":"a","transitions":[],'
        '"meta":{"z":{"y":2,"x":[3,{"k":"\\u00e9\\n"}]},"a":"q\\"/"}}')


# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

def put_raw(d, machine, version, definition_json, extra=""):
    params = ('{"machine":%s,"version":%d,"definition":%s%s}'
              % (json.dumps(machine), version, definition_json, extra))
    return d.call_raw_params("PUT_MACHINE", params)


# ---- PUT_MACHINE basics ------------------------------------------------------------------

def test_put_machine_created_then_unchanged(db):
    msg = put_raw(db, "order", 1, ROW1)
    r = rc.assert_ok(msg)
    assert list(r.items()) == [("machine", "order"), ("version", 1),
                               ("stored_checksum", "26adbd14"), ("created", True)]
    assert db.latest() == 1
    # same definition again -> created:false, nothing written
    r2 = rc.assert_ok(put_raw(db, "order", 1, ROW1))
    assert list(r2.items()) == [("machine", "order"), ("version", 1),
                                ("stored_checksum", "26adbd14"), ("created", False)]
    # an equivalent (same-checksum) form -> created:false; the stored definition stays as it was
    r3 = rc.assert_ok(put_raw(db, "order", 1, EQUIVALENT_ROW1[1]))
    assert r3["created"] is False and r3["stored_checksum"] == "26adbd14"
    assert db.latest() == 1
    g = db.ok("GET_MACHINE", {"machine": "order", "version": 1})
    assert dump_ordered(g["definition"]) == dump_ordered(json.loads(ROW1))
    recs = db.wal_all()
    assert [x["entry"]["type"] for x in recs] == ["put_machine"]


@pytest.mark.parametrize("idx", range(len(EQUIVALENT_ROW1)))
def test_checksum_row1_equivalent_forms(sdb, idx):
    m = uniq("eq")
    r = rc.assert_ok(put_raw(sdb, m, 1, EQUIVALENT_ROW1[idx]))
    assert r == {"machine": m, "version": 1, "stored_checksum": "26adbd14", "created": True}


def test_checksum_vectors_row3_row4(sdb):
    m = uniq("v")
    r = rc.assert_ok(put_raw(sdb, m, 1, ROW3))
    assert r["stored_checksum"] == "338dabb0" and r["created"] is True
    r = rc.assert_ok(put_raw(sdb, m, 2, ROW4))
    assert r["stored_checksum"] == "b49dcf6a" and r["created"] is True
    # GET_MACHINE: exactly as submitted (key order, unknown keys, string `from`)
    g = sdb.ok("GET_MACHINE", {"machine": m, "version": 1})
    assert list(g.keys()) == ["definition", "checksum"]
    assert dump_ordered(g["definition"]) == dump_ordered(json.loads(ROW3))
    assert g["checksum"] == "338dabb0"
    g = sdb.ok("GET_MACHINE", {"machine": m, "version": 2})
    assert dump_ordered(g["definition"]) == dump_ordered(json.loads(ROW4))
    assert g["definition"]["meta"]["z"]["x"][1]["k"] == "\u00e9\n"
    assert g["checksum"] == "b49dcf6a"


# §19.4 number table: canonical spelling of numbers inside meta.
NUMBER_VECTORS = [
    ("100", "100"), ("100.0", "100.0"), ("1e2", "100.0"), ("0.1", "0.1"),
    ("0.00001", "0.00001"), ("123456.789", "123456.789"), ("0.000001", "1e-6"),
    ("1e16", "1e+16"), ("1e15", "1000000000000000.0"), ("1.5e300", "1.5e+300"),
    ("-3.25e-10", "-3.25e-10"), ("18446744073709551616", "1.8446744073709552e+19"),
    ("-0", "-0.0"), ("-7", "-7"), ("18446744073709551615", "18446744073709551615"),
]


@pytest.mark.parametrize("literal,canon", NUMBER_VECTORS)
def test_checksum_meta_numbers(sdb, literal, canon):
    m = uniq("num")
    defn = '{"states":["a"],"initial":"a","transitions":[],"meta":{"n":%s}}' % literal
    expected_canon = '{"states":["a"],"initial":"a","transitions":[],"meta":{"n":%s}}' % canon
    r = rc.assert_ok(put_raw(sdb, m, 1, defn))
    assert r["stored_checksum"] == "%08x" % rc.crc32c(expected_canon.encode()), (literal, canon, r)


def test_checksum_predicted_for_order_def(sdb):
    m = uniq("order")
    r = sdb.put_machine(m, 1, ORDER_DEF)
    assert r["stored_checksum"] == checksum_of(ORDER_DEF)


def test_supplied_checksum_case_insensitive_and_mismatch(sdb):
    m = uniq("cs")
    r = sdb.put_machine(m, 1, SIMPLE_DEF, checksum="26ADBD14")
    assert r == {"machine": m, "version": 1, "stored_checksum": "26adbd14", "created": True}
    r = sdb.put_machine(m, 1, SIMPLE_DEF, checksum="26adbd14")
    assert r["created"] is False
    before = sdb.latest()
    for supplied in ("00000000", "26adbd15", "nothex"):
        e = sdb.err("PUT_MACHINE", {"machine": m, "version": 2, "definition": SIMPLE_DEF,
                                    "checksum": supplied}, "BAD_REQUEST",
                    "checksum mismatch: computed 26adbd14, supplied %s" % supplied,
                    details={"field": "checksum"})
        assert e["retryable"] is False
    # the checksum is compared before the existence check
    sdb.err("PUT_MACHINE", {"machine": m, "version": 1, "definition": SIMPLE_DEF,
                            "checksum": "00000000"}, "BAD_REQUEST",
            "checksum mismatch: computed 26adbd14, supplied 00000000", details={"field": "checksum"})
    sdb.err("GET_MACHINE", {"machine": m, "version": 2}, "MACHINE_NOT_FOUND")
    # checksum null counts as absent
    assert sdb.put_machine(m, 2, SIMPLE_DEF, checksum=None)["created"] is True
    assert sdb.latest() == before + 1


def test_machine_version_exists(sdb):
    m = uniq("mve")
    sdb.put_machine(m, 1, SIMPLE_DEF)
    before = sdb.latest()
    other = dict(SIMPLE_DEF, meta={"v": 2})
    e = sdb.err("PUT_MACHINE", {"machine": m, "version": 1, "definition": other},
                "MACHINE_VERSION_EXISTS", "machine version already exists: %s v1" % m)
    assert e["details"] == {"machine": m, "version": 1, "stored_checksum": SIMPLE_SUM,
                            "submitted_checksum": checksum_of(other)}
    assert list(e["details"].keys()) == ["machine", "version", "stored_checksum",
                                         "submitted_checksum"]
    assert e["retryable"] is False
    g = sdb.ok("GET_MACHINE", {"machine": m, "version": 1})
    assert g == {"definition": SIMPLE_DEF, "checksum": SIMPLE_SUM}
    assert sdb.latest() == before


def test_version_zero_and_u32_max(sdb):
    m = uniq("v0")
    assert sdb.put_machine(m, 0, SIMPLE_DEF)["version"] == 0
    assert sdb.put_machine(m, 4294967295, SIMPLE_DEF)["version"] == 4294967295
    assert sdb.ok("GET_MACHINE", {"machine": m, "version": 0})["checksum"] == SIMPLE_SUM
    assert sdb.ok("GET_MACHINE", {"machine": m, "version": 4294967295})["checksum"] == SIMPLE_SUM


def test_version_limit(server_factory):
    srv = server_factory(["--set", "storage.max_machine_versions=2"])
    with DB(srv) as d:
        d.put_machine("m", 1, SIMPLE_DEF)
        d.put_machine("m", 2, SIMPLE_DEF)
        e = d.err("PUT_MACHINE", {"machine": "m", "version": 3, "definition": SIMPLE_DEF},
                  "MACHINE_VERSION_LIMIT_EXCEEDED",
                  "machine version limit exceeded: machine 'm' already has 2 versions (limit: 2)",
                  details={"machine": "m", "limit": 2, "versions": 2})
        assert e["retryable"] is False
        # existing versions are checked before the limit
        assert d.put_machine("m", 2, SIMPLE_DEF)["created"] is False
        d.err("PUT_MACHINE", {"machine": "m", "version": 1, "definition": ORDER_DEF},
              "MACHINE_VERSION_EXISTS")
        # the limit is per machine
        assert d.put_machine("other", 1, SIMPLE_DEF)["created"] is True
        assert d.latest() == 3
        items = d.ok("LIST_MACHINES")["items"]
        assert items == [{"machine": "m", "versions": [1, 2]},
                         {"machine": "other", "versions": [1]}]


# ---- validation (§19.2) -------------------------------------------------------------------

def _t(frm="a", event="E", to="b", **kw):
    t = {"from": frm, "event": event, "to": to}
    t.update(kw)
    return t


def _d(transitions=None, states=("a", "b"), initial="a", **kw):
    d = {"states": list(states) if states is not None else None, "initial": initial,
         "transitions": transitions if transitions is not None else []}
    d.update(kw)
    return d


def _without(d, key):
    d = dict(d)
    d.pop(key)
    return d


INVALID_DEFS = [
    # rule 2
    (_without(_d(), "states"), "'states' must be a non-empty array of strings"),
    (_d(states=[]), "'states' must be a non-empty array of strings"),
    ({"states": "a", "initial": "a", "transitions": []}, "'states' must be a non-empty array of strings"),
    (_d(states=["a", 1]), "'states' must be a non-empty array of strings"),
    ({"states": None, "initial": "a", "transitions": []}, "'states' must be a non-empty array of strings"),
    ({"states": [], "initial": "zz", "transitions": 5}, "'states' must be a non-empty array of strings"),
    # rule 3
    (_d(initial="zz"), "initial state 'zz' not in states list"),
    (_d(initial="A"), "initial state 'A' not in states list"),
    (_d(initial="zz", transitions=5), "initial state 'zz' not in states list"),
    # rule 4
    (_without(_d(), "transitions"), "'transitions' must be an array"),
    (_d(transitions={}), "'transitions' must be an array"),
    (_d(transitions="x"), "'transitions' must be an array"),
    # rule 5
    (_d([5]), "transition 0: must be an object"),
    (_d([_t(), ["a"]]), "transition 1: must be an object"),
    (_d([_t(), None]), "transition 1: must be an object"),
    # rule 6 (before 7 and 8)
    (_d([{"from": "a", "to": "b"}]), "transition 0: 'event' must be a string"),
    (_d([_t(event=5)]), "transition 0: 'event' must be a string"),
    (_d([_t(frm="zz", event=None, to="yy")]), "transition 0: 'event' must be a string"),
    # rule 7 (before 8)
    (_d([_t(to="zz")]), "transition 0: target state 'zz' not in states list"),
    (_d([_t(frm="zz", to="yy")]), "transition 0: target state 'yy' not in states list"),
    # rule 8
    (_d([_t(frm="zz")]), "transition 0: source state 'zz' not in states list"),
    (_d([_t(frm=["a", "zz"])]), "transition 0: source state 'zz' not in states list"),
    (_d([_t(frm=5)]), "transition 0: 'from' must be a string or an array of strings"),
    (_d([_t(frm=["a", 5])]), "transition 0: 'from' must be a string or an array of strings"),
    (_d([_t(frm={"a": 1})]), "transition 0: 'from' must be a string or an array of strings"),
    (_d([{"event": "E", "to": "b"}]), "transition 0: 'from' must be a string or an array of strings"),
    # per transition, in order: transition 0 fully before transition 1
    (_d([_t(frm="zz"), 5]), "transition 0: source state 'zz' not in states list"),
    (_d([_t(), _t(to="q"), 7]), "transition 1: target state 'q' not in states list"),
]


@pytest.mark.parametrize("defn,reason", INVALID_DEFS)
def test_invalid_definition(sdb, defn, reason):
    e = sdb.err("PUT_MACHINE", {"machine": uniq("bad"), "version": 1, "definition": defn},
                "BAD_REQUEST", "invalid machine definition: " + reason,
                details={"field": "definition"})
    assert e["retryable"] is False


# Reasons the spec leaves open: only the code, the prefix and details are checked.
LOOSE_INVALID_DEFS = [
    (_without(_d(), "initial"), "invalid machine definition: "),
    (_d(initial=5), "invalid machine definition: "),
    (_d([{"from": "a", "event": "E"}]), "invalid machine definition: transition 0: "),
    (_d([_t(to=5)]), "invalid machine definition: transition 0: "),
    (_d([_t(guard=5)]), "invalid "),
    (_d([_t(guard=["ctx.a"])]), "invalid "),
]


@pytest.mark.parametrize("defn,prefix", LOOSE_INVALID_DEFS)
def test_invalid_definition_loose(sdb, defn, prefix):
    e = sdb.err("PUT_MACHINE", {"machine": uniq("bad"), "version": 1, "definition": defn},
                "BAD_REQUEST", message_prefix=prefix)
    assert e["details"]["field"] == "definition", e


@pytest.mark.parametrize("defn", [[], "x", 5, True])
def test_definition_not_an_object(sdb, defn):
    """§19.2 rule 1 vs the §1.1 type error: both spellings are accepted here."""
    e = sdb.err("PUT_MACHINE", {"machine": uniq("bad"), "version": 1, "definition": defn},
                "BAD_REQUEST", details={"field": "definition"})
    assert e["message"] in ("invalid machine definition: definition must be an object",
                            "invalid request: invalid type for field 'definition': expected object"), e


def test_valid_edge_definitions(sdb):
    m = uniq("edge")
    ok_defs = [
        _d(states=["a", "a"], initial="a"),                    # duplicates tolerated
        _d([_t(frm=[])]),                                       # [] never matches but is valid
        _d([_t(frm=["a", "b", "a"])]),
        _d([_t(guard=None)]),
        _d([_t(), _t()]),                                       # several per (state,event)
        _d([], meta=[1, "x", None]),
        _d(states=["", "\u00e9t\u00e9 \U0001F600"], initial="",
           transitions=[_t(frm="", event="", to="\u00e9t\u00e9 \U0001F600")]),
    ]
    for i, defn in enumerate(ok_defs):
        r = sdb.put_machine(m, i, defn)
        assert r["created"] is True and r["stored_checksum"] == checksum_of(defn), (defn, r)
        g = sdb.ok("GET_MACHINE", {"machine": m, "version": i})
        assert dump_ordered(g["definition"]) == dump_ordered(defn)


BAD_GUARDS = [
    "", "   ", "amount > 5", "1 == ctx.a", "ctx .a", "ctx.", "ctx.a..b", "ctx.a.",
    "ctx.a == 'x'", "ctx.a == @", 'ctx.a == "x', 'ctx.a == "\\n"', 'ctx.a > "x"',
    "ctx.a > true", "ctx.a == -", "ctx.a == .", "ctx.a == " + "9" * 400, "ctx.a == trueish",
    "(ctx.a", "ctx.a = 1", "ctx.a ) x", "ctx.a == 1e3", "ctx.a == 1 == 2",
    "ctx.gr\u00f6\u00dfe", "(" * 129 + "ctx.a" + ")" * 129, "!" * 129 + "ctx.a",
    "(" * 100000, "!" * 100000, "ctx.a ||", "&& ctx.a", "ctx.a == +1", "CTX.a", "ctx.a ==",
    "\u00e9", "ctx.\u00e9", 'ctx.a == "\u00e9', "ctx.a == \"x\" \u00e9", "ctx.a == nul",
    "ctx.a == 1.2.3", "ctx.a == --1", "!", "()", "ctx.a & ctx.b", "ctx.a | ctx.b",
    "ctx.a >> 1", "ctx.a =! 1", "ctx.a == true_", "ctx.a ! = 1",
]


@pytest.mark.parametrize("guard", BAD_GUARDS, ids=lambda g: repr(g[:30]))
def test_bad_guard(sdb, guard):
    defn = _d([_t(guard=guard)])
    e = sdb.err("PUT_MACHINE", {"machine": uniq("g"), "version": 1, "definition": defn},
                "BAD_REQUEST", message_prefix="invalid guard expression in transition 0: ",
                details={"field": "definition", "transition_index": 0})
    assert re.search(r" at byte \d+$", e["message"]), e
    assert e["retryable"] is False


def test_bad_guard_index_and_order(sdb):
    defn = _d([_t(), _t(guard="ctx.ok"), _t(guard="ctx.a == 'x'")])
    e = sdb.err("PUT_MACHINE", {"machine": uniq("g"), "version": 1, "definition": defn},
                "BAD_REQUEST", message_prefix="invalid guard expression in transition 2: ",
                details={"field": "definition", "transition_index": 2})
    # rule 9 of transition 0 comes before rule 5 of transition 1
    defn = _d([_t(guard="ctx."), 5])
    sdb.err("PUT_MACHINE", {"machine": uniq("g"), "version": 1, "definition": defn},
            "BAD_REQUEST", message_prefix="invalid guard expression in transition 0: ",
            details={"field": "definition", "transition_index": 0})
    # ... and after rules 6-8 of its own transition
    defn = _d([_t(to="zz", guard="ctx.")])
    sdb.err("PUT_MACHINE", {"machine": uniq("g"), "version": 1, "definition": defn},
            "BAD_REQUEST", "invalid machine definition: transition 0: target state 'zz' not in states list",
            details={"field": "definition"})
    # the server survives all of the above
    sdb.conn.ping()
    assert e["details"]["transition_index"] == 2


GOOD_GUARDS = [
    "ctx.a", " ctx.a ", "\tctx.a\n==\r1 ", "!ctx.a", "! ctx.a", "ctx.a == null",
    'ctx.a == "\u00e9 \\" \\\\ x"', "ctx.a >= -1.5", "ctx.a < .5", "ctx.a <= 5.",
    "(ctx.a || ctx.b) && !ctx.c", "ctx.a.b.c == true", "ctx.items.length > 0",
    "ctx.a != false", "ctx.A_1.b2",
    "(" * 128 + "ctx.a" + ")" * 128, "!" * 128 + "ctx.a", "ctx.a==1", "ctx.a>=1&&ctx.b<2",
    "ctx.nullable", "ctx.truex == true", "ctx.a == \"\"", "ctx.a == -0", "ctx.0 == 1",
    "( ctx.a )", "ctx.a == \"'\"",
]


def test_good_guards_accepted(sdb):
    m = uniq("gg")
    for i, g in enumerate(GOOD_GUARDS):
        defn = _d([_t(guard=g)])
        r = sdb.call("PUT_MACHINE", {"machine": m, "version": i, "definition": defn})
        assert rc.assert_ok(r)["created"] is True, (g, r)


# ---- params ----------------------------------------------------------------------------

def test_put_machine_param_errors(sdb):
    m = uniq("p")
    assert_param_error(sdb.call("PUT_MACHINE", None), "machine")
    assert_param_error(sdb.call("PUT_MACHINE", {}), "machine")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": None, "version": 1,
                                                "definition": SIMPLE_DEF}), "machine")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": m, "definition": SIMPLE_DEF}), "version")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": m, "version": 1}), "definition")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": m, "version": 1,
                                                "definition": None}), "definition")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": 5, "version": 1,
                                                "definition": SIMPLE_DEF}), "machine", "type")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": m, "version": "1",
                                                "definition": SIMPLE_DEF}), "version", "type")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": m, "version": True,
                                                "definition": SIMPLE_DEF}), "version", "type")
    for bad in ("-1", "1.0", "1e0", "4294967296", "1.5"):
        msg = sdb.call_raw_params("PUT_MACHINE", '{"machine":"%s","version":%s,"definition":%s}'
                                  % (m, bad, json.dumps(SIMPLE_DEF)))
        assert_param_error(msg, "version", "type_or_value")
    assert_param_error(sdb.call("PUT_MACHINE", {"machine": m, "version": 1, "definition": SIMPLE_DEF,
                                                "checksum": 5}), "checksum", "type")
    # nothing was stored
    sdb.err("GET_MACHINE", {"machine": m, "version": 1}, "MACHINE_NOT_FOUND")
    # unknown keys are ignored
    r = sdb.put_machine(m, 1, SIMPLE_DEF, frobnicate=[1, 2])
    assert r["created"] is True


def test_machine_name_any_string(sdb):
    for name in ("", "with space", "\u00e9\U0001F600", "a/b\\c\"d"):
        d = dict(SIMPLE_DEF)
        r = sdb.put_machine(name + uniq(""), 1, d)
        assert r["created"] is True


# ---- GET_MACHINE ----------------------------------------------------------------------

def test_get_machine_exactly_as_submitted(sdb):
    m = uniq("asis")
    raw = ('{"transitions":[{"to":"paid","event":"PAY","from":"created","note":{"z":1,"a":[true,null]}},'
           '{"from":["paid"],"event":"X","to":"paid","guard":null}],'
           '"zzz":[1,2.5,"x",{"b":1,"a":2}],"initial":"created","states":["created","paid"],'
           '"meta":{"b":1,"a":{"d":null,"c":-3}}}')
    r = rc.assert_ok(put_raw(sdb, m, 7, raw))
    g = sdb.ok("GET_MACHINE", {"machine": m, "version": 7})
    assert list(g.keys()) == ["definition", "checksum"]
    assert dump_ordered(g["definition"]) == dump_ordered(json.loads(raw))
    assert isinstance(g["definition"]["transitions"][0]["from"], str)
    assert g["definition"]["transitions"][1]["guard"] is None
    assert g["checksum"] == r["stored_checksum"]
    # the raw wire bytes carry the definition in submitted order too
    msg = sdb.call("GET_MACHINE", {"machine": m, "version": 7})
    assert msg.payload.find(raw.encode()) > 0, msg.payload


def test_get_machine_not_found(sdb):
    m = uniq("nf")
    e = sdb.err("GET_MACHINE", {"machine": m, "version": 1}, "MACHINE_NOT_FOUND",
                "machine version not found: %s v1" % m, details={"machine": m, "version": 1})
    assert "not found" in e["message"] and e["retryable"] is False
    sdb.put_machine(m, 1, SIMPLE_DEF)
    sdb.err("GET_MACHINE", {"machine": m, "version": 2}, "MACHINE_NOT_FOUND",
            "machine version not found: %s v2" % m, details={"machine": m, "version": 2})
    assert_param_error(sdb.call("GET_MACHINE", {"machine": m}), "version")
    assert_param_error(sdb.call("GET_MACHINE", {"version": 1}), "machine")
    assert_param_error(sdb.call("GET_MACHINE", None), "machine")
    assert_param_error(sdb.call("GET_MACHINE", {"machine": m, "version": "1"}), "version", "type")


# ---- LIST_MACHINES --------------------------------------------------------------------

def test_list_machines(db):
    assert db.ok("LIST_MACHINES") == {"items": []}
    assert db.ok("LIST_MACHINES", {}) == {"items": []}
    for name, v in [("b", 2), ("a", 1), ("\u00e9", 1), ("b", 1), ("C", 3), ("aa", 1),
                    ("b", 10), ("C", 1)]:
        db.put_machine(name, v, SIMPLE_DEF)
    full = [{"machine": "C", "versions": [1, 3]}, {"machine": "a", "versions": [1]},
            {"machine": "aa", "versions": [1]}, {"machine": "b", "versions": [1, 2, 10]},
            {"machine": "\u00e9", "versions": [1]}]
    r = db.ok("LIST_MACHINES")
    assert r == {"items": full}
    for item in r["items"]:
        assert list(item.keys()) == ["machine", "versions"]
    assert db.ok("LIST_MACHINES", {"limit": 0}) == {"items": full}
    assert db.ok("LIST_MACHINES", {"limit": None, "cursor": None}) == {"items": full}
    r = db.ok("LIST_MACHINES", {"limit": 2})
    assert list(r.items()) == [("items", full[:2]), ("nextCursor", "a")]
    r = db.ok("LIST_MACHINES", {"limit": 2, "cursor": "a"})
    assert r == {"items": full[2:4], "nextCursor": "b"}
    r = db.ok("LIST_MACHINES", {"limit": 2, "cursor": "b"})
    assert r == {"items": full[4:]}
    # exactly the remaining ones -> no nextCursor
    assert db.ok("LIST_MACHINES", {"limit": 2, "cursor": "aa"}) == {"items": full[3:]}
    assert db.ok("LIST_MACHINES", {"limit": 5}) == {"items": full}
    # a cursor that is not a machine name
    assert db.ok("LIST_MACHINES", {"cursor": "ab"}) == {"items": full[3:]}
    assert db.ok("LIST_MACHINES", {"cursor": "\u00e9"}) == {"items": []}
    assert db.ok("LIST_MACHINES", {"cursor": ""}) == {"items": full}
    assert_param_error(db.call("LIST_MACHINES", {"limit": "2"}), "limit", "type")
    assert_param_error(db.call("LIST_MACHINES", {"cursor": 5}), "cursor", "type")
