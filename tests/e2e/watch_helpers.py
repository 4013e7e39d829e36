"""Helpers for the subscription tests (test_watch*.py): a subscriber connection that keeps the
events and responses it reads apart, and the expected events computed from the log.

Every read has a deadline (the connection's timeout), so a missing event fails the test
instead of hanging it."""

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
