"""Pipelining, ordering and backpressure (protocol.md §4, §7)."""

import random
import threading
import time

import pytest

import rcp_client as rc


# The protocol over TLS too (conftest.pytest_generate_tests): the tests on the module's server.
RUN_OVER_TLS = True

@pytest.mark.parametrize("framing", rc.FRAMINGS)
def test_1000_pipelined_pings_in_one_write(server, framing):
    with server.connect(framing) as c:
        data = b"".join(rc.encode(rc.make_request("PING", {}, id="p%d" % i), framing)
                        for i in range(1000))
        c.send_raw(data)
        for i in range(1000):
            msg = c.recv(framing)
            assert rc.assert_ok(msg, id="p%d" % i) == {"pong": True}
        c.ping()


def _mixed_messages(rng, n):
    """(bytes, expected framing, expected id, checker) tuples for one binary connection."""
    out = []
    for i in range(n):
        kind = rng.choice(["ping", "ping", "info", "frob", "badjson", "notobj", "numid",
                           "hello_jsonl", "hello_bin", "auth", "noop", "badparams", "noid",
                           "badutf8"])
        framing = rng.choice(["rcpx", "jsonl"])
        rid = "m%d" % i
        if kind == "ping":
            out.append((rc.make_request("PING", {"n": i}, id=rid), framing, rid,
                        lambda m: rc.assert_ok(m) == {"pong": True}))
        elif kind == "info":
            out.append((rc.make_request("INFO", None, id=rid), framing, rid,
                        lambda m: rc.assert_ok(m)["implementation"] == "rstmdb-cpp"))
        elif kind == "frob":
            out.append((rc.make_request("FROB", {}, id=rid), framing, rid,
                        lambda m: rc.assert_error(m, "BAD_REQUEST", "unknown operation: FROB")))
        elif kind == "badjson":
            out.append((b'{"id":"%s","op":"PING",' % rid.encode(), framing, "",
                        lambda m: rc.assert_error(m, "BAD_REQUEST",
                                                  message_prefix="invalid request: malformed JSON: ")))
        elif kind == "notobj":
            framing = "rcpx"  # a JSONL line must start with '{'
            out.append((b"[1,2,3]", framing, "",
                        lambda m: rc.assert_error(m, "BAD_REQUEST",
                                                  "invalid request: request must be a JSON object")))
        elif kind == "numid":
            out.append((b'{"id":%d,"op":"PING"}' % (100000 + i), framing, str(100000 + i),
                        lambda m: rc.assert_ok(m) == {"pong": True}))
        elif kind == "hello_jsonl":
            out.append((rc.make_request("HELLO", {"protocol_version": 1, "wire_modes": ["jsonl"]},
                                        id=rid), framing, rid,
                        lambda m: rc.assert_ok(m)["wire_mode"] == "jsonl"))
        elif kind == "hello_bin":
            out.append((rc.make_request("HELLO", {"protocol_version": 1, "wire_mode": "binary_json",
                                                  "features": ["batch"]}, id=rid), framing, rid,
                        lambda m: rc.assert_ok(m)["features"] == ["batch"]))
        elif kind == "auth":
            out.append((rc.make_request("AUTH", {"token": "t%d" % i}, id=rid), framing, rid,
                        lambda m: rc.assert_ok(m) == {"authenticated": True}))
        elif kind == "noop":
            out.append((b'{"id":"%s"}' % rid.encode(), framing, rid,
                        lambda m: rc.assert_error(m, "BAD_REQUEST",
                                                  "invalid request: missing field 'op'")))
        elif kind == "badparams":
            out.append((b'{"id":"%s","op":"PING","params":[1]}' % rid.encode(), framing, rid,
                        lambda m: rc.assert_error(m, "BAD_REQUEST",
                                                  "invalid request: params must be an object")))
        elif kind == "noid":
            out.append((b'{"op":"PING","params":{}}', framing, "",
                        lambda m: rc.assert_error(m, "BAD_REQUEST",
                                                  "invalid request: missing or invalid field 'id'")))
        elif kind == "badutf8":
            out.append((b'{"id":"%s","op":"PING","x":"\xc3\x28"}' % rid.encode(), framing, "",
                        lambda m: rc.assert_error(m, "BAD_REQUEST",
                                                  "invalid request: payload is not valid UTF-8")))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mixed_pipeline_in_one_write(server, seed):
    rng = random.Random(seed)
    msgs = _mixed_messages(rng, 600)
    with server.connect(msgs[0][1]) as c:
        c.send_raw(b"".join(rc.encode(payload, framing) for payload, framing, _, _ in msgs))
        for i, (payload, framing, rid, check) in enumerate(msgs):
            msg = c.recv(framing)
            rc.validate_response(msg)
            assert msg["id"] == rid, (i, payload, msg)
            assert check(msg), (i, payload, msg)
        c.ping()


def test_rcp1_pipeline(server):
    with server.connect("rcp1") as c:
        data = b"".join(rc.encode_rcp1(rc.make_request("PING" if i % 3 else "FROB", {}, id=str(i)))
                        for i in range(500))
        c.send_raw(data)
        for i in range(500):
            msg = c.recv("rcp1")
            if i % 3:
                rc.assert_ok(msg, id=str(i))
            else:
                rc.assert_error(msg, "BAD_REQUEST", "unknown operation: FROB", id=str(i))


def test_pipeline_split_at_random_boundaries(server):
    """The same stream cut into random-sized writes gives the same answers."""
    rng = random.Random(42)
    msgs = _mixed_messages(rng, 200)
    data = b"".join(rc.encode(payload, framing) for payload, framing, _, _ in msgs)
    with server.connect(msgs[0][1]) as c:
        pos = 0
        while pos < len(data):
            n = rng.choice([1, 2, 3, 7, 17, 18, 19, 64, 500])
            c.send_raw(data[pos:pos + n])
            pos += n
            if rng.random() < 0.02:
                time.sleep(0.01)
        for i, (payload, framing, rid, check) in enumerate(msgs):
            msg = c.recv(framing)
            assert msg["id"] == rid, (i, payload, msg)
            assert check(msg), (i, payload, msg)


def _pipeline_without_reading(server, count, id_len, framing="rcpx", rcvbuf=None):
    ids = ["%06d-" % i + "i" * id_len for i in range(count)]
    data = b"".join(rc.encode(rc.make_request("PING", {}, id=i), framing) for i in ids)
    # A small receive buffer makes the server's output back up early.
    c = server.connect(framing, timeout=30, rcvbuf=rcvbuf)
    errors = []

    def sender():
        try:
            c.send_raw(data, timeout=60)
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=sender, daemon=True)
    t.start()
    # Do not read for a while: the server must buffer or pause reading, never drop or fail.
    t.join(3.0)
    return c, ids, t, errors


# Large volumes use JSONL: the client's pure-Python CRC32C runs at only ~5 MB/s.
@pytest.mark.parametrize("id_len,framing,rcvbuf", [
    (1, "rcpx", None),
    (200, "rcpx", 8192),
    (1000, "jsonl", 8192),
])
def test_backpressure_5000_requests_without_reading(server, id_len, framing, rcvbuf):
    c, ids, t, errors = _pipeline_without_reading(server, 5000, id_len, framing, rcvbuf)
    with c:
        for i, rid in enumerate(ids):
            msg = c.recv(framing, timeout=30)
            assert rc.assert_ok(msg, id=rid) == {"pong": True}, i
        t.join(30)
        assert not t.is_alive(), "sender still blocked after all responses were read"
        assert not errors, errors
        c.ping()


def test_slow_reader_does_not_block_other_clients(server):
    """While one client's responses back up, others are served promptly."""
    c, ids, t, errors = _pipeline_without_reading(server, 8000, 1000, "jsonl", 8192)
    with c:
        with server.connect() as other:
            for _ in range(20):
                start = time.monotonic()
                other.ping()
                assert time.monotonic() - start < 2.0
        for rid in ids:
            rc.assert_ok(c.recv(timeout=30), id=rid)
        t.join(30)
        assert not errors, errors


def test_concurrent_clients_pipelining(server):
    results = {}

    def worker(k):
        try:
            framing = rc.FRAMINGS[k % 3]
            with server.connect(framing) as c:
                data = b"".join(rc.encode(rc.make_request("PING", {}, id="%d-%d" % (k, i)), framing)
                                for i in range(300))
                c.send_raw(data)
                for i in range(300):
                    rc.assert_ok(c.recv(framing), id="%d-%d" % (k, i))
            results[k] = True
        except Exception as e:
            results[k] = e

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(12)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert len(results) == 12 and all(v is True for v in results.values()), results
