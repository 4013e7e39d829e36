"""rstmdb-cli watch-instance / watch-all / unwatch (runtime.md §2.2): events as JSON lines,
Ctrl+C (SIGINT) or SIGTERM sends UNWATCH and exits 0, `end` exits 1.

Part 1 drives the CLI against the RCP test peer (cli_helpers.RcpPeer), which scripts the
server side of a subscription; it checks what the CLI sends and prints. Part 2 runs the same
flows against the real rstmdbd."""

import json
import signal
import threading
import time

import pytest

from cli_helpers import (Cli, ORDER_DEF, TOKEN, TOKEN_HASH, RcpPeer, auth_args, read_line,
                         read_stderr_until, start_cli, stop_cli)

SUB = "sub-6f1c2b9e-8d0a-4c1e-9a57-0e2b7d4f3a10"


def event(n, sub=SUB, **extra):
    e = {"type": "event", "subscription_id": sub, "instance_id": "o-1", "machine": "order",
         "version": 1, "wal_offset": 3 + n, "from_state": "created", "to_state": "paid",
         "event": "PAY", "payload": {"amount": 99.99, "n": n}}
    e.update(extra)
    return e


class WatchScript:
    """Server side of one subscription for the test peer: answers WATCH_* and then sends
    `events` (and `end`, if given); answers UNWATCH; records everything."""

    def __init__(self, events=(), end=None, close_after_events=False, watch_error=None):
        self.events = list(events)
        self.end = end
        self.close_after_events = close_after_events
        self.watch_error = watch_error
        self.unwatched = threading.Event()

    def __call__(self, conn, req):
        op = req["op"]
        if op in ("WATCH_INSTANCE", "WATCH_ALL"):
            if self.watch_error:
                conn.respond(req, error=self.watch_error)
                return
            if op == "WATCH_INSTANCE":
                conn.respond(req, {"subscription_id": SUB, "instance_id": req["params"]["instance_id"],
                                   "current_state": "paid", "current_wal_offset": 3})
            else:
                conn.respond(req, {"subscription_id": SUB, "wal_offset": 2})
            for e in self.events:
                conn.send(e)
            if self.end:
                conn.send({"type": "end", "subscription_id": SUB, "reason": self.end})
            if self.close_after_events:
                conn.sock.shutdown(2)
        elif op == "UNWATCH":
            self.unwatched.set()  # before answering: the CLI exits on the answer
            conn.respond(req, {"subscription_id": req["params"]["subscription_id"],
                               "removed": req["params"]["subscription_id"] == SUB})
        else:
            conn.respond(req, error={"code": "BAD_REQUEST", "message": "unexpected", "retryable": False})


@pytest.fixture
def peer_factory():
    peers = []

    def make(script, **kw):
        p = RcpPeer(handler=script, **kw)
        peers.append(p)
        return p

    yield make
    for p in peers:
        p.close()


def addr(peer):
    return ["-s", "%s:%d" % (peer.host, peer.port)]


# ---- part 1: against the test peer ------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_watch_instance_prints_events_and_unwatches_on_signal(peer_factory, tmp_path, sig):
    script = WatchScript(events=[event(1), event(2, sub="sub-other"), event(3, ctx={"a": 1})])
    peer = peer_factory(script)
    proc = start_cli(addr(peer) + ["watch-instance", "o-1"], tmp_path)
    banner = read_stderr_until(proc, "Press Ctrl+C to stop...")
    assert banner == ("Watching instance o-1 (sub_id: %s, state: paid, wal_offset: 3)\n"
                      "Press Ctrl+C to stop...\n" % SUB)
    # Compact JSON, key order as sent; the other subscription's event is not shown.
    assert read_line(proc) == json.dumps(event(1), separators=(",", ":"))
    assert json.loads(read_line(proc)) == event(3, ctx={"a": 1})
    rc, rest, err = stop_cli(proc, sig)
    assert rc == 0, err
    assert rest == ""
    assert err == "\nStopping watch...\n"
    assert script.unwatched.is_set()
    watch = [r for r in peer.requests if r["op"] == "WATCH_INSTANCE"][0]
    assert watch["params"] == {"instance_id": "o-1", "include_ctx": True}
    unwatch = [r for r in peer.requests if r["op"] == "UNWATCH"][0]
    assert unwatch["params"] == {"subscription_id": SUB}
    assert peer.ops() == ["HELLO", "WATCH_INSTANCE", "UNWATCH"]


def test_ctrl_c_during_the_watch_request_still_unsubscribes(peer_factory, tmp_path):
    release = threading.Event()
    inner = WatchScript()

    def slow(conn, req):
        if req["op"] == "WATCH_ALL":
            release.wait(10)
        inner(conn, req)

    peer = peer_factory(slow)
    proc = start_cli(addr(peer) + ["watch-all"], tmp_path)
    deadline = time.monotonic() + 10
    while "WATCH_ALL" not in peer.ops():
        assert time.monotonic() < deadline, "the CLI never sent WATCH_ALL"
        time.sleep(0.01)
    # The CLI has sent WATCH_ALL, so it catches signals already, and waits for the answer.
    proc.send_signal(signal.SIGINT)
    release.set()
    rc, out, err = stop_cli(proc, sig=0)
    assert rc == 0, err
    assert peer.ops() == ["HELLO", "WATCH_ALL", "UNWATCH"]
    assert "Stopping watch..." in err


def test_watch_instance_options_and_token(peer_factory, tmp_path):
    script = WatchScript()
    peer = peer_factory(script, tokens={TOKEN})
    proc = start_cli(addr(peer) + ["-t", TOKEN, "watch-instance", "o-9", "--no-ctx",
                                   "--from-offset", "17"], tmp_path)
    read_stderr_until(proc, "Press Ctrl+C")
    rc, _, err = stop_cli(proc)
    assert rc == 0, err
    assert peer.ops() == ["HELLO", "AUTH", "WATCH_INSTANCE", "UNWATCH"]
    # The handshake of runtime.md §2.2, as upstream's client sends it.
    assert peer.requests[0]["params"] == {"protocol_version": 1, "client_name": "rstmdb-cli",
                                          "wire_modes": ["binary_json"],
                                          "features": ["idempotency", "batch"]}
    assert peer.requests[1]["params"] == {"method": "bearer", "token": TOKEN}
    assert [r["id"] for r in peer.requests] == ["1", "2", "3", "4"]
    assert all(r["type"] == "request" for r in peer.requests)
    assert peer.requests[2]["params"] == {"instance_id": "o-9", "include_ctx": False,
                                          "from_offset": 17}


def test_watch_all_filters(peer_factory, tmp_path):
    script = WatchScript(events=[event(1)])
    peer = peer_factory(script)
    proc = start_cli(addr(peer) + ["watch-all", "--machines", "order,payment", "--from-states",
                                   "created", "--to-states", "paid,shipped", "--events", "PAY",
                                   "--no-ctx", "--from-offset", "5"], tmp_path)
    assert read_stderr_until(proc, "Press Ctrl+C") == (
        "Watching all events (sub_id: %s, wal_offset: 2)\nPress Ctrl+C to stop...\n" % SUB)
    assert json.loads(read_line(proc)) == event(1)
    rc, _, err = stop_cli(proc)
    assert rc == 0, err
    assert peer.requests[1]["params"] == {
        "include_ctx": False, "from_offset": 5, "machines": ["order", "payment"],
        "from_states": ["created"], "to_states": ["paid", "shipped"], "events": ["PAY"]}


def test_watch_all_without_filters_sends_none(peer_factory, tmp_path):
    peer = peer_factory(WatchScript())
    proc = start_cli(addr(peer) + ["watch-all"], tmp_path)
    read_stderr_until(proc, "Press Ctrl+C")
    assert stop_cli(proc)[0] == 0
    assert peer.requests[1]["params"] == {"include_ctx": True}


@pytest.mark.parametrize("reason", ["lagged", "shutdown"])
def test_end_of_subscription_exits_1(peer_factory, tmp_path, reason):
    peer = peer_factory(WatchScript(events=[event(1)], end=reason))
    proc = start_cli(addr(peer) + ["watch-all"], tmp_path)
    assert json.loads(read_line(proc)) == event(1)
    assert json.loads(read_line(proc)) == {"type": "end", "subscription_id": SUB, "reason": reason}
    rc, rest, err = stop_cli(proc, sig=0)  # no signal: it ends by itself
    assert rc == 1
    assert err.endswith("Error: subscription ended: %s\n" % reason)
    assert "UNWATCH" not in peer.ops()


def test_connection_closed_while_watching_exits_1(peer_factory, tmp_path):
    peer = peer_factory(WatchScript(events=[event(1)], close_after_events=True))
    proc = start_cli(addr(peer) + ["watch-instance", "o-1"], tmp_path)
    assert json.loads(read_line(proc)) == event(1)
    rc, _, err = stop_cli(proc, sig=0)
    assert rc == 1
    assert err.endswith("Error: connection closed\n")


def test_watch_error_response(peer_factory, tmp_path):
    peer = peer_factory(WatchScript(watch_error={"code": "INSTANCE_NOT_FOUND", "retryable": False,
                                                 "message": "instance not found: o-404"}))
    proc = start_cli(addr(peer) + ["watch-instance", "o-404"], tmp_path)
    rc, out, err = stop_cli(proc, sig=0)
    assert (rc, out) == (1, "")
    assert err == "Error: server error: INSTANCE_NOT_FOUND - instance not found: o-404\n"


def test_watch_json_mode(peer_factory, tmp_path):
    peer = peer_factory(WatchScript(events=[event(1)]))
    proc = start_cli(addr(peer) + ["--json", "watch-instance", "o-1"], tmp_path)
    banner = read_stderr_until(proc, SUB)
    assert json.loads(banner) == {"subscription_id": SUB, "instance_id": "o-1",
                                  "current_state": "paid", "current_wal_offset": 3}
    assert json.loads(read_line(proc)) == event(1)
    rc, _, err = stop_cli(proc)
    assert (rc, err) == (0, "")


def test_repl_watch_returns_to_the_script_after_ctrl_c(peer_factory, tmp_path):
    script = WatchScript(events=[event(1)])
    peer = peer_factory(script)
    import subprocess
    from cli_helpers import cli_env, cli_path
    proc = subprocess.Popen([str(cli_path())] + addr(peer), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(tmp_path))
    proc.stdin.write(b"watch o-1\nping\n")
    proc.stdin.close()
    assert json.loads(read_line(proc)) == event(1)
    proc.send_signal(signal.SIGINT)
    assert read_line(proc) == "PONG"
    rc, _, err = stop_cli(proc, sig=0)
    assert rc == 0, err
    assert peer.ops() == ["HELLO", "WATCH_INSTANCE", "UNWATCH", "PING"]


# ---- part 2: against the real rstmdbd ----------------------------------------------------

@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(auth_args(TOKEN_HASH))


@pytest.fixture
def cli(srv, tmp_path):
    c = Cli(srv.host, srv.port, tmp_path, token=TOKEN)
    c("put-machine", "-n", "order", "-v", "1", json.dumps(ORDER_DEF))
    return c


def start_watch(cli, *args):
    proc = start_cli(cli.base() + list(args), cli.home)
    banner = read_stderr_until(proc, "Press Ctrl+C to stop...")
    if proc.poll() is not None:
        pytest.fail("watch ended at once (exit %r): %s" % (proc.returncode, banner))
    return proc, banner


def test_server_watch_instance(cli):
    iid = "w-%d" % time.monotonic_ns()
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid, "-c", '{"c":1}')
    proc, banner = start_watch(cli, "watch-instance", iid)
    try:
        assert banner.startswith("Watching instance %s (sub_id: sub-" % iid)
        assert ", state: created, wal_offset: " in banner
        applied = cli.json("apply-event", "-i", iid, "-e", "PAY", "-p", '{"amount":5}')
        e = json.loads(read_line(proc))
        assert e["type"] == "event" and e["instance_id"] == iid
        assert (e["from_state"], e["to_state"], e["event"]) == ("created", "paid", "PAY")
        assert e["wal_offset"] == applied["wal_offset"]
        assert e["payload"] == {"amount": 5} and e["ctx"] == {"c": 1, "amount": 5}
    finally:
        rc, _, err = stop_cli(proc)
    assert rc == 0, err
    assert err.endswith("Stopping watch...\n")


def test_server_watch_all_filters_no_ctx_and_replay(cli):
    iid = "wa-%d" % time.monotonic_ns()
    first = cli.json("create-instance", "-m", "order", "-V", "1", "-i", iid)
    paid = cli.json("apply-event", "-i", iid, "-e", "PAY")
    proc, _ = start_watch(cli, "watch-all", "--machines", "order", "--events", "SHIP,DELIVER",
                          "--no-ctx", "--from-offset", str(first["wal_offset"]))
    try:
        cli.ok("apply-event", "-i", iid, "-e", "SHIP")
        e = json.loads(read_line(proc))
        # PAY (replayable from the offset) is filtered out by --events; SHIP comes live.
        assert e["event"] == "SHIP" and e["wal_offset"] > paid["wal_offset"]
        assert "ctx" not in e
    finally:
        rc, _, err = stop_cli(proc)
    assert rc == 0, err


def test_server_unwatch_unknown_subscription(cli):
    r = cli("unwatch", "sub-nope")
    assert (r.rc, r.out) == (0, "Warning: subscription sub-nope not found\n"), r
    assert cli.json("unwatch", "sub-nope") == {"subscription_id": "sub-nope", "removed": False}


def test_server_watch_needs_auth(cli):
    r = cli("watch-all", token=False)
    assert r.rc == 1
    assert r.err == "Error: server error: UNAUTHORIZED - authentication required\n"


def test_repl_watch_on_a_terminal_ctrl_c_returns_to_the_prompt(peer_factory, tmp_path):
    from cli_helpers import PROMPT, Terminal, cli_env
    script = WatchScript(events=[event(1)])
    peer = peer_factory(script)
    t = Terminal(addr(peer), cli_env(tmp_path, {"TERM": "vt100", "NO_COLOR": "1"}))
    try:
        t.expect(PROMPT)
        t.send("watch o-1\r")
        t.expect("Press Ctrl+C to stop...")
        t.expect('"n":1}')
        t.send("\x03", editing=False)  # no editor during a watch: the tty turns it into SIGINT
        t.expect("Stopping watch...")
        t.expect(PROMPT)
        assert script.unwatched.is_set()
        t.send("ping\r")
        assert "PONG" in t.expect(PROMPT)
        # Ctrl+C at the prompt is handled by the REPL again after the watch.
        t.send("abc\x03")
        t.expect("^C")
        t.expect(PROMPT)
        t.send("q\r")
        assert t.wait() == 0
    finally:
        if t.status is None:
            t.kill()
