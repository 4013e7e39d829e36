"""Helpers and fixtures for the data-operation end-to-end tests (test_ops_*.py).

Everything here builds on conftest.py (servers) and rcp_client.py (protocol). Test modules
import the fixtures they use by name, e.g. ``from data_helpers import db, sdb``.
"""

import json
import re
import time
import uuid

import pytest

import rcp_client as rc
from conftest import ServerProcess

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
HEX8_RE = re.compile(r"^[0-9a-f]{8}$")

# operations.md §19.4, row 1 (checksum 26adbd14).
SIMPLE_DEF = {"states": ["created", "paid"], "initial": "created",
              "transitions": [{"from": "created", "event": "PAY", "to": "paid"}]}
SIMPLE_SUM = "26adbd14"

# operations.md §19.1.
ORDER_DEF = {"states": ["created", "paid", "shipped", "cancelled"],
             "initial": "created",
             "transitions": [
                 {"from": "created", "event": "PAY", "to": "paid",
                  "guard": "ctx.amount > 0 && !ctx.blocked"},
                 {"from": ["created", "paid"], "event": "CANCEL", "to": "cancelled"},
                 {"from": "paid", "event": "SHIP", "to": "shipped"}],
             "meta": {"description": "Order lifecycle"}}
ORDER_GUARD = "ctx.amount > 0 && !ctx.blocked"

# A machine with a self-transition, handy for writing many entries.
TICK_DEF = {"states": ["s"], "initial": "s",
            "transitions": [{"from": "s", "event": "TICK", "to": "s"}]}

# Exact key order of server-built objects (operations.md).
INSTANCE_KEYS = ["instance_id", "machine", "version", "state", "ctx", "last_event_id",
                 "last_wal_offset", "created_at", "updated_at"]
LIST_ITEM_KEYS = ["id", "machine", "version", "state", "created_at", "updated_at",
                  "last_wal_offset"]
APPLY_KEYS = ["from_state", "to_state", "ctx", "wal_offset", "applied", "event_id"]
STATS_KEYS = ["entry_count", "segment_count", "total_size_bytes", "latest_offset",
              "oldest_offset", "io_stats"]
IO_KEYS = ["bytes_written", "bytes_read", "writes", "reads", "fsyncs"]
COMPACT_KEYS = ["snapshots_created", "segments_deleted", "bytes_reclaimed", "total_snapshots",
                "wal_segments", "entries_trimmed"]
ENTRY_KEYS = {
    "put_machine": ["type", "machine", "version", "definition_hash", "definition", "timestamp"],
    "create_instance": ["type", "instance_id", "machine", "version", "initial_state",
                        "initial_ctx", "idempotency_key", "timestamp"],
    "apply_event": ["type", "instance_id", "machine", "version", "event", "from_state",
                    "to_state", "payload", "ctx", "event_id", "idempotency_key", "timestamp"],
    "delete_instance": ["type", "instance_id", "machine", "version", "idempotency_key",
                        "timestamp"],
    "flush_all": ["type", "instances_removed", "machines_removed", "timestamp"],
}
OPTIONAL_ENTRY_KEYS = {"idempotency_key", "event_id"}


def uniq(prefix="x"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:12])


def now_ms():
    return int(time.time() * 1000)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def keys_in_order(obj, allowed):
    """The keys of obj must be a sub-sequence of `allowed`, in that order."""
    got = list(obj.keys())
    expected = [k for k in allowed if k in obj]
    assert got == expected, "key order/set %r, expected (sub-sequence of) %r" % (got, allowed)


def _no_dup_pairs(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise rc.ProtocolError("duplicate key %r in server JSON" % (k,))
        seen.add(k)
    return dict(pairs)


def check_no_duplicate_keys(msg):
    json.loads(bytes(msg.payload).decode("utf-8"), object_pairs_hook=_no_dup_pairs)


def dump_ordered(obj):
    """Order-sensitive serialisation (dicts keep their insertion order)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# ----------------------------------------------------------------------------------------
# Canonical form and checksum (operations.md §19.4) for definitions without non-integer
# numbers; used to predict stored_checksum.

def _canon_value(v):
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-8"))
        return "{" + ",".join(_canon_str(k) + ":" + _canon_value(x) for k, x in items) + "}"
    if isinstance(v, list):
        return "[" + ",".join(_canon_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if is_int(v):
        return str(v)
    if isinstance(v, str):
        return _canon_str(v)
    raise ValueError("no canonical helper for %r" % (v,))


def _canon_str(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(defn):
    parts = ['"states":' + _canon_value(defn["states"]),
             '"initial":' + _canon_value(defn["initial"])]
    ts = []
    for t in defn["transitions"]:
        f = t["from"]
        if isinstance(f, str):
            f = [f]
        s = ('{"from":' + _canon_value(f) + ',"event":' + _canon_str(t["event"])
             + ',"to":' + _canon_str(t["to"]))
        if t.get("guard") is not None:
            s += ',"guard":' + _canon_str(t["guard"])
        ts.append(s + "}")
    parts.append('"transitions":[' + ",".join(ts) + "]")
    if defn.get("meta") is not None:
        parts.append('"meta":' + _canon_value(defn["meta"]))
    return "{" + ",".join(parts) + "}"


def checksum_of(defn):
    return "%08x" % rc.crc32c(canonical(defn).encode("utf-8"))


# ----------------------------------------------------------------------------------------
# Client wrapper.

class DB:
    """One connection plus convenience calls for the data ops."""

    def __init__(self, server, framing="rcpx", timeout=15.0, fast=False):
        """fast=True: JSONL without the client's per-byte checks (pure-Python CRC32C and
        compactness scans cost seconds per 16 MB); only for the multi-megabyte tests."""
        self.server = server
        self.fast = fast
        self.conn = server.connect("jsonl" if fast else framing, timeout=timeout)

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- raw --------------------------------------------------------------------------
    def _fast_request(self, op, params):
        c = self.conn
        rid = c.next_id()
        c.send_raw(rc.encode_jsonl(rc.make_request(op, params, id=rid)))
        deadline = time.monotonic() + c.timeout
        start = 0
        while True:
            nl = c.buf.find(b"\n", start)
            if nl >= 0:
                break
            start = len(c.buf)
            c._fill(deadline)
        payload = bytes(c.buf[:nl])
        del c.buf[:nl + 1]
        msg = rc.Message(rc.parse_server_json(payload))
        msg.framing, msg.raw, msg.payload = "jsonl", payload + b"\n", payload
        rc.validate_response(msg)
        assert msg["id"] == rid, msg
        return msg

    def call(self, op, params=None):
        if self.fast:
            msg = self._fast_request(op, params)
        else:
            msg = self.conn.request(op, params)
        check_no_duplicate_keys(msg)
        return msg

    def call_raw_params(self, op, params_json):
        """Send params as literal JSON text (to control number spelling / key order)."""
        rid = self.conn.next_id()
        if isinstance(params_json, str):
            params_json = params_json.encode("utf-8")
        payload = (b'{"type":"request","id":' + rc.dumps(rid) + b',"op":' + rc.dumps(op)
                   + b',"params":' + params_json + b"}")
        self.conn.send(payload)
        msg = self.conn.recv_response()
        assert msg["id"] == rid, msg
        check_no_duplicate_keys(msg)
        return msg

    def ok(self, op, params=None):
        return rc.assert_ok(self.call(op, params))

    def err(self, op, params, code, message=None, details=None, **kw):
        """Assert an error; `details` given as a dict must match exactly (None = not checked)."""
        e = rc.assert_error(self.call(op, params), code, message, **kw)
        if details is not None:
            assert e.get("details") == details, e
        return e

    # -- data ops ---------------------------------------------------------------------
    def put_machine(self, machine, version, definition, **extra):
        p = {"machine": machine, "version": version, "definition": definition}
        p.update(extra)
        return self.ok("PUT_MACHINE", p)

    def create(self, instance_id, machine, version=1, ctx=None, **extra):
        p = {}
        if instance_id is not None:
            p["instance_id"] = instance_id
        p["machine"] = machine
        p["version"] = version
        if ctx is not None:
            p["initial_ctx"] = ctx
        p.update(extra)
        return self.ok("CREATE_INSTANCE", p)

    def apply(self, instance_id, event, payload=None, **extra):
        p = {"instance_id": instance_id, "event": event}
        if payload is not None:
            p["payload"] = payload
        p.update(extra)
        return self.ok("APPLY_EVENT", p)

    def get(self, instance_id):
        return self.ok("GET_INSTANCE", {"instance_id": instance_id})

    def delete(self, instance_id, **extra):
        p = {"instance_id": instance_id}
        p.update(extra)
        return self.ok("DELETE_INSTANCE", p)

    def stats(self):
        return self.ok("WAL_STATS")

    def latest(self):
        """WAL_STATS latest_offset, 0 when absent (nothing written)."""
        return self.stats().get("latest_offset", 0)

    def wal_read(self, **params):
        return self.ok("WAL_READ", params)

    def wal_all(self, from_offset=0):
        """Every retained record from `from_offset`, following next_offset/hasMore."""
        out = []
        off = from_offset
        for _ in range(1000):
            r = self.wal_read(from_offset=off, limit=10000)
            out.extend(r["records"])
            if not r["hasMore"]:
                return out
            assert r["next_offset"] > off, r
            off = r["next_offset"]
        raise AssertionError("WAL_READ paging did not terminate")


def assert_param_error(err_or_msg, field, kind="missing"):
    """BAD_REQUEST for one parameter (operations.md §1.1), details {"field": field}.

    kind: "missing" (exact message), "type" / "value" (message prefix), "type_or_value".
    """
    if "status" in err_or_msg:
        err = rc.assert_error(err_or_msg, "BAD_REQUEST")
    else:
        err = err_or_msg
        assert err["code"] == "BAD_REQUEST", err
    msg = err["message"]
    if kind == "missing":
        assert msg == "invalid request: missing field '%s'" % field, err
    elif kind == "type":
        assert msg.startswith("invalid request: invalid type for field '%s'" % field), err
    elif kind == "value":
        assert msg.startswith("invalid request: invalid value for field '%s'" % field), err
    elif kind == "type_or_value":
        assert (msg.startswith("invalid request: invalid type for field '%s'" % field)
                or msg.startswith("invalid request: invalid value for field '%s'" % field)), err
    else:
        raise ValueError(kind)
    assert err.get("details") == {"field": field}, err
    assert err["retryable"] is False
    return err


def check_error_object(e):
    """Validate an error object embedded in a BATCH result or in details."""
    rc.validate_response({"type": "response", "id": "", "status": "error", "error": e})
    return e


def check_timestamp(ts, before=None, after=None, slack_ms=2000):
    assert is_int(ts), ts
    if before is not None:
        assert ts >= before - slack_ms, (ts, before)
    if after is not None:
        assert ts <= after + slack_ms, (ts, after)


def check_entry_shape(entry):
    """operations.md §25.2: type first, timestamp last, exact key set per type."""
    t = entry["type"]
    assert t in ENTRY_KEYS, entry
    keys = list(entry.keys())
    assert keys[0] == "type" and keys[-1] == "timestamp", keys
    required = [k for k in ENTRY_KEYS[t] if k not in OPTIONAL_ENTRY_KEYS]
    keys_in_order(entry, ENTRY_KEYS[t])
    for k in required:
        assert k in entry, (k, entry)
    assert is_int(entry["timestamp"]), entry


def check_record(rec):
    assert list(rec.keys()) == ["offset", "sequence", "entry"], rec
    assert is_int(rec["offset"]) and rec["offset"] >= 1, rec
    assert rec["sequence"] == rec["offset"], rec
    check_entry_shape(rec["entry"])


def check_wal_read_result(r, from_offset=0):
    """Shape of a WAL_READ result (operations.md §12) including the TypeScript extras."""
    assert list(r.keys()) == ["records", "next_offset", "entries", "hasMore", "nextOffset"], r
    recs = r["records"]
    for rec in recs:
        check_record(rec)
    offs = [x["offset"] for x in recs]
    if offs:
        assert offs == list(range(offs[0], offs[0] + len(offs))), offs
    if recs:
        assert recs[0]["offset"] >= from_offset
        assert r["next_offset"] == recs[-1]["offset"] + 1, r
    else:
        assert r["next_offset"] == from_offset, r
    assert r["nextOffset"] == r["next_offset"]
    assert isinstance(r["hasMore"], bool)
    assert len(r["entries"]) == len(recs)
    for rec, ent in zip(recs, r["entries"]):
        assert list(ent.keys()) == ["offset", "type", "data", "timestamp"], ent
        assert ent["offset"] == rec["offset"]
        assert ent["type"] == rec["entry"]["type"]
        assert dump_ordered(ent["data"]) == dump_ordered(rec["entry"])
        assert ent["timestamp"] == rec["entry"]["timestamp"]


# ----------------------------------------------------------------------------------------
# Servers.

def restart(factory, srv, extra_args=(), env=None):
    """SIGTERM `srv` (must exit 0) and start a new server on the SAME data directory."""
    rcode = srv.stop()
    assert rcode == 0, "server exited with %r on SIGTERM\n%s" % (rcode, srv.output())
    new = ServerProcess(srv.workdir, extra_args=extra_args, env=env,
                        name="rstmdbd-%d" % len(factory.servers))
    factory.servers.append(new)
    new.start()
    assert new.data_dir == srv.data_dir
    return new


@pytest.fixture
def db(server_factory):
    """A fresh default server and a connection to it."""
    srv = server_factory()
    d = DB(srv)
    yield d
    d.close()


@pytest.fixture
def sdb(server):
    """A connection to the module's shared default server (use unique names)."""
    d = DB(server)
    yield d
    d.close()
