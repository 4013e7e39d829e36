"""Health over the real HTTP endpoint (runtime.md §4.1): /health (liveness), /ready and
/healthz (readiness), ?format=json, driven by the real server's state — ready after startup,
draining during a graceful shutdown (503 while the drain lasts), failed after a real storage
failure (a full tmpfs) — and the endpoint's own bounds: GET/HEAD only, a request of at most
8 KiB (tested at the bound), 16 connections, 5 s for a request to arrive.
"""

import json
import os
import signal
import socket
import time

import pytest

import rcp_client as rc
import test_disk_full as disk_full
from test_disk_full import small_fs  # noqa: F401 (the fixture)
from metrics_helpers import (METRICS_ARGS, http_get, metrics_port, raw_http, scrape,
                             start_metrics_server, wait_for_metric)

MAX_REQUEST_BYTES = 8 * 1024  # HttpEndpoint::kMaxHeaderBytes
MAX_HTTP_CONNECTIONS = 16     # HttpEndpoint::kMaxConnections
HTTP_TIMEOUT_S = 5            # HttpEndpoint::kTimeout

BIG = {"states": ["a", "b"], "initial": "a", "transitions": [{"from": "a", "event": "GO", "to": "b"}]}


@pytest.fixture(scope="module")
def hsrv(module_server_factory):
    return start_metrics_server(module_server_factory)


def test_ready_server_text_bodies(hsrv):
    assert http_get(hsrv, "/health")[0::2] == (200, "OK")
    assert http_get(hsrv, "/ready")[0::2] == (200, "READY")
    assert http_get(hsrv, "/healthz")[0::2] == (200, "READY")
    status, headers, _ = http_get(hsrv, "/ready")
    assert headers["content-type"] == "text/plain; charset=utf-8"


def test_json_format(hsrv):
    with hsrv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "hj", "version": 1, "definition": BIG}))
        offset = rc.assert_ok(c.request("WAL_STATS"))["latest_offset"]
    for path in ("/health?format=json", "/ready?format=json", "/healthz?x=1&format=json"):
        status, headers, body = http_get(hsrv, path)
        assert status == 200, (path, body)
        assert headers["content-type"] == "application/json"
        doc = json.loads(body)
        assert list(doc) == ["status", "state", "checks", "latest_offset", "uptime_s"], doc
        assert doc["state"] == "ready"
        assert doc["status"] == ("ok" if path.startswith("/health?") else "ready")
        assert doc["checks"] == {"storage": "ok", "event_loop": "ok", "listener": "ok"}
        assert doc["latest_offset"] == offset
        assert isinstance(doc["uptime_s"], int) and 0 <= doc["uptime_s"] < 120


def test_head_unknown_paths_and_methods(hsrv):
    status, headers, body = http_get(hsrv, "/metrics", method="HEAD")
    assert status == 200 and body == ""
    assert int(headers["content-length"]) > 1000  # the GET's length
    assert http_get(hsrv, "/nope")[0] == 404
    assert http_get(hsrv, "/metrics/../health")[0] == 404  # paths are matched exactly
    status, headers, _ = http_get(hsrv, "/health", method="POST")
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert http_get(hsrv, "/metrics", method="DELETE")[0] == 405
    # A body is refused and the connection closed.
    out = raw_http(hsrv, b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    assert out.startswith(b"HTTP/1.1 400 "), out
    assert out.count(b"HTTP/1.1") == 1
    # Garbage is refused.
    assert raw_http(hsrv, b"\x16\x03\x01\x00\xa5 hello\r\n\r\n").startswith(b"HTTP/1.1 400 ")


def _request_of(total):
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: "
    end = b"\r\n\r\n"
    data = head + b"a" * (total - len(head) - len(end)) + end
    assert len(data) == total
    return data


def test_request_size_bound(hsrv):
    # At the bound: answered, and the connection stays usable (keep-alive, pipelined).
    out = raw_http(hsrv, _request_of(MAX_REQUEST_BYTES) * 2 +
                   b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 3, out[:300]
    # One byte more: 431 and closed, whether sent at once or in pieces.
    out = raw_http(hsrv, _request_of(MAX_REQUEST_BYTES + 1))
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]
    assert out.count(b"HTTP/1.1") == 1
    s = socket.create_connection(("127.0.0.1", hsrv.metrics_port), timeout=10)
    try:
        s.sendall(b"GET /health HTTP/1.1\r\nX-Pad: ")
        for _ in range(10):
            try:
                s.sendall(b"b" * 1000)  # no end of header in sight
            except BrokenPipeError:
                break  # refused and closed past the bound
        out = s.recv(4096)
        assert out.startswith(b"HTTP/1.1 431 "), out
    finally:
        s.close()
    # The endpoint still answers.
    assert http_get(hsrv, "/health")[0] == 200


def test_slow_client_is_closed_after_the_timeout(hsrv):
    s = socket.create_connection(("127.0.0.1", hsrv.metrics_port), timeout=20)
    try:
        start = time.monotonic()
        s.sendall(b"GET /health HTTP/1.1\r\n")
        # A byte now and then: the whole request must arrive within the timeout.
        s.settimeout(0.5)
        closed_at = None
        for _ in range(40):
            try:
                s.sendall(b"X")
                chunk = s.recv(4096)
                if chunk == b"":
                    closed_at = time.monotonic()
                    break
                pytest.fail("server answered a request that never finished: %r" % chunk)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                closed_at = time.monotonic()
                break
        assert closed_at is not None, "not closed within 20 s"
        assert HTTP_TIMEOUT_S - 0.5 <= closed_at - start <= HTTP_TIMEOUT_S + 3, closed_at - start
    finally:
        s.close()


def test_connection_limit_and_slots_freed(hsrv):
    held = [socket.create_connection(("127.0.0.1", hsrv.metrics_port), timeout=10)
            for _ in range(MAX_HTTP_CONNECTIONS)]
    try:
        # The endpoint has accepted all 16 (each answers a request, kept alive).
        for s in held:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(4096).startswith(b"HTTP/1.1 200 OK")
        # The 17th is closed at once without a byte.
        extra = socket.create_connection(("127.0.0.1", hsrv.metrics_port), timeout=10)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            assert extra.recv(4096) == b""
        except ConnectionResetError:
            pass
        extra.close()
    finally:
        for s in held:
            s.close()
    # Slots come back once the held connections are gone.
    deadline = time.monotonic() + 10
    while True:
        try:
            if http_get(hsrv, "/health")[0] == 200:
                break
        except (ConnectionError, OSError):
            pass
        assert time.monotonic() < deadline, "HTTP slots not freed"
        time.sleep(0.05)


def _blocked_reader(srv, instance, count=64):
    """A connection that asks for many large replies and never reads them: the server cannot
    finish writing to it, so a graceful shutdown drains until the grace period ends."""
    c = rc.Connection(srv.host, srv.port, connect=False)
    c.connect(rcvbuf=4096)
    for i in range(count):
        c.send(rc.make_request("GET_INSTANCE", {"instance_id": instance}, id="g%d" % i))
    return c


def _big_instance(srv, name):
    with srv.connect(framing="jsonl") as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "big", "version": 1, "definition": BIG}))
        rc.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": name, "machine": "big", "version": 1,
                                                   "initial_ctx": {"blob": "x" * 200000}}))


def _poll(srv, path, want_status, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        status, _, body = http_get(srv, path)
        if status == want_status:
            return body
        assert time.monotonic() < deadline, (path, status, body, srv.output())
        time.sleep(0.02)


def test_ready_is_503_while_draining(server_factory):
    srv = start_metrics_server(server_factory, ["--set", "network.shutdown_grace_secs=4"])
    _big_instance(srv, "drain-1")
    blocked = _blocked_reader(srv, "drain-1")
    try:
        wait_for_metric(srv, lambda s: s.value("rstmdb_requests_in_flight") > 0 or
                        s.value("rstmdb_requests_total", operation="GET_INSTANCE") > 0,
                        "blocked reader's requests arrived")
        srv.send_signal(signal.SIGTERM)
        assert _poll(srv, "/ready", 503) == "NOT READY: draining"
        # While the drain lasts: readiness 503 on both paths, liveness still 200.
        assert http_get(srv, "/healthz")[0::2] == (503, "NOT READY: draining")
        assert http_get(srv, "/health")[0::2] == (200, "OK")
        status, _, body = http_get(srv, "/ready?format=json")
        doc = json.loads(body)
        assert status == 503
        assert doc["status"] == "not_ready" and doc["state"] == "draining", doc
        assert doc["checks"]["listener"] == "closed", doc
        assert doc["checks"]["storage"] == "ok", doc
        assert scrape(srv).value("rstmdb_ready") == 0
        assert srv.proc.poll() is None, "the drain ended before the checks"
    finally:
        blocked.close()
    assert srv.wait(15) == 0, srv.output()


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_failed_after_a_storage_failure(small_fs):
    fs = small_fs(disk_full.FULL_LOAD_FS_MB)
    srv = fs.server("hf", METRICS_ARGS + ["--set", "network.shutdown_grace_secs=5"])
    srv.start()
    srv.metrics_port = metrics_port(srv)
    assert http_get(srv, "/ready")[0::2] == (200, "READY")
    _big_instance(srv, "hf-1")
    blocked = _blocked_reader(srv, "hf-1")
    try:
        fs.fill()
        # Writes until the storage fails (every_write: the first write that finds no room).
        failed = None
        with srv.connect(framing="jsonl", timeout=20) as c:
            for _ in range(2000):
                r = c.request("CREATE_INSTANCE", {"machine": "big", "version": 1,
                                                  "initial_ctx": {"blob": os.urandom(8192).hex()}})
                if r["status"] != "ok":
                    failed = r["error"]
                    break
        assert failed is not None and failed["code"] == "WAL_IO_ERROR", failed
        body = _poll(srv, "/ready", 503)
        assert body == "NOT READY: failed", body
        status, _, live = http_get(srv, "/health")
        assert status == 503 and live.startswith("UNHEALTHY: storage failed: "), live
        doc = json.loads(http_get(srv, "/health?format=json")[2])
        assert doc["state"] == "failed" and doc["checks"]["storage"] == "failed", doc
        assert srv.proc.poll() is None, "the drain ended before the checks"
    finally:
        blocked.close()
    # Fail-stop: the server drains and exits 1.
    assert srv.wait(30) == disk_full.EXIT_RUNTIME_ERROR, srv.output()


def test_client_that_does_not_read_is_closed_after_the_timeout(hsrv):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", hsrv.metrics_port))
    try:
        requests = 300  # ~40 KiB each: far more than the socket buffers hold
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * requests)
        time.sleep(HTTP_TIMEOUT_S + 2)  # not reading, longer than the write timeout
        received = 0
        s.settimeout(5)
        while True:
            try:
                chunk = s.recv(1 << 20)
            except ConnectionResetError:
                break
            except socket.timeout:
                pytest.fail("the server kept the connection of a client that did not read")
            if not chunk:
                break
            received += len(chunk)
        # Closed with most responses never written.
        assert received < requests * 30000, received
    finally:
        s.close()
    assert http_get(hsrv, "/health")[0] == 200
