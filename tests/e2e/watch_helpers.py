"""Helpers for the subscription tests (test_watch*.py): a subscriber connection that keeps the
events and responses it reads apart, and the expected events computed from the log.

Every read has a deadline (the connection's timeout), so a missing event fails the test
instead of hanging it."""

import json
import time

import rcp_client as rc

# protocol.md §6.5: the key order of a server-built event.
EVENT_KEYS = ["type", "subscription_id", "instance_id", "machine", "version", "wal_offset",
              "from_state", "to_state", "event", "payload", "ctx"]
END_KEYS = ["type", "subscription_id", "reason"]

TICK_DEF = {"states": ["s"], "initial": "s",
            "transitions": [{"from": "s", "event": "TICK", "to": "s"}]}
# Two states and events, for the filters.
FLIP_DEF = {"states": ["a", "b"], "initial": "a",
            "transitions": [{"from": "a", "event": "GO", "to": "b"},
                            {"from": "b", "event": "BACK", "to": "a"}]}


def check_event_shape(msg, include_ctx=True):
    keys = list(msg.keys())
    expected = [k for k in EVENT_KEYS if include_ctx or k != "ctx"]
    assert keys == expected, "event keys %r, expected %r" % (keys, expected)
    assert isinstance(msg["payload"], dict), msg
    for k in ("version", "wal_offset"):
        assert isinstance(msg[k], int) and not isinstance(msg[k], bool), msg


class Subscriber:
    """One connection that subscribes; events and `end`s are kept in arrival order."""

    def __init__(self, server, framing="rcpx", timeout=15.0, rcvbuf=None):
        self.conn = server.connect(framing, timeout=timeout, rcvbuf=rcvbuf)
        # Every message read, in order: ("event"|"end"|"response", message).
        self.log = []
        self.pending = []  # events/ends read while waiting for a response, not yet taken

    def close(self):
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, timeout=None):
        msg = self.conn.recv(timeout=timeout)
        t = msg.get("type")
        if t in ("event", "end"):
            self.log.append((t, msg))
            return msg
        rc.validate_response(msg)
        self.log.append(("response", msg))
        return msg

    def request(self, op, params=None, **kw):
        """Sends a request and returns its response; events read meanwhile are kept."""
        rid = self.conn.next_id()
        self.conn.send(rc.make_request(op, params, id=rid), **kw)
        return self.response(rid)

    def send(self, op, params=None):
        rid = self.conn.next_id()
        self.conn.send(rc.make_request(op, params, id=rid))
        return rid

    def send_no_params(self, op):
        rid = self.conn.next_id()
        self.conn.send({"type": "request", "id": rid, "op": op})
        return rid

    def response(self, rid):
        while True:
            msg = self._read()
            if msg.get("type") in ("event", "end"):
                self.pending.append(msg)
                continue
            assert msg["id"] == rid, "response %r while waiting for id %r" % (msg, rid)
            return msg

    def ok(self, op, params=None):
        return rc.assert_ok(self.request(op, params))

    def watch_all(self, **params):
        return self.ok("WATCH_ALL", params)

    def watch_instance(self, instance_id, **params):
        p = {"instance_id": instance_id}
        p.update(params)
        return self.ok("WATCH_INSTANCE", p)

    def next(self, timeout=None):
        """The next event or `end` (a response here is a protocol error)."""
        if self.pending:
            return self.pending.pop(0)
        msg = self._read(timeout)
        if msg.get("type") not in ("event", "end"):
            raise rc.ProtocolError("expected an event, got %r" % (msg,))
        return msg

    def events(self, n, timeout=None):
        return [self.next(timeout) for _ in range(n)]

    def until(self, pred, limit=100000):
        """Events up to and including the first one for which pred(msg) holds."""
        out = []
        for _ in range(limit):
            msg = self.next()
            out.append(msg)
            if pred(msg):
                return out
        raise AssertionError("no matching event among %d" % limit)

    def nothing_pending(self):
        return not self.pending and not self.conn.has_pending_data(0.0)


def apply_offsets(db, from_offset=1, **match):
    """Offsets of the retained apply_event entries from `from_offset` whose fields match."""
    out = []
    for rec in db.wal_all(from_offset):
        e = rec["entry"]
        if e["type"] != "apply_event":
            continue
        if all(e.get(k) == v for k, v in match.items()):
            out.append(rec["offset"])
    return out


def wait_until(pred, timeout=10.0, what="condition"):
    """Polls pred() (cheap) until true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for %s" % what)


class FastJsonlSubscriber:
    """A JSONL subscriber for the bulk tests: lines are parsed with json.loads, without the strict
    client's per-byte checks (pure-Python scans cost seconds per 10 MB). Small `rcvbuf` makes a
    subscriber that stops reading stall the server quickly."""

    def __init__(self, server, rcvbuf=None, timeout=30.0):
        self.conn = server.connect("rcpx", timeout=timeout, rcvbuf=rcvbuf)
        r = rc.assert_ok(self.conn.hello(wire_modes=["jsonl"]))
        assert r["wire_mode"] == "jsonl", r
        self.conn.framing = "jsonl"
        self._ids = 0

    def close(self):
        self.conn.close()

    def request(self, op, params=None):
        self._ids += 1
        rid = "f%d" % self._ids
        self.conn.send_raw(rc.encode_jsonl(rc.make_request(op, params, id=rid)))
        while True:
            msg = self.next_message()
            if msg.get("type") == "response":
                assert msg["id"] == rid, msg
                return msg
            raise rc.ProtocolError("unexpected %r before the response" % (msg,))

    def next_message(self, timeout=None):
        c = self.conn
        deadline = time.monotonic() + (c.timeout if timeout is None else timeout)
        start = 0
        while True:
            nl = c.buf.find(b"\n", start)
            if nl >= 0:
                break
            start = len(c.buf)
            c._fill(deadline)
        line = bytes(c.buf[:nl])
        del c.buf[:nl + 1]
        return json.loads(line)

    def messages(self, n, timeout=None):
        return [self.next_message(timeout) for _ in range(n)]


def bulk_apply(server, instances, n, payload=None, chunk=100, event="TICK"):
    """Applies `n` events round-robin over `instances` from one JSONL connection, `chunk`
    pipelined at a time; returns their offsets in request order."""
    conn = server.connect("jsonl", timeout=60.0)
    try:
        offsets = []
        sent = 0
        while sent < n:
            k = min(chunk, n - sent)
            conn.send_raw(b"".join(rc.encode_jsonl(rc.make_request(
                "APPLY_EVENT", {"instance_id": instances[(sent + j) % len(instances)], "event": event,
                                "payload": payload or {}}, id=str(sent + j))) for j in range(k)))
            deadline = time.monotonic() + 60
            for _ in range(k):
                while True:
                    nl = conn.buf.find(b"\n")
                    if nl >= 0:
                        break
                    conn._fill(deadline)
                msg = json.loads(bytes(conn.buf[:nl]))
                del conn.buf[:nl + 1]
                assert msg["status"] == "ok", msg
                offsets.append(msg["result"]["wal_offset"])
            sent += k
        return offsets
    finally:
        conn.close()
