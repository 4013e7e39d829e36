"""Replay from `from_offset` and slow consumers (operations.md §26.2, §26.3): replay then live
as one stream with no gap and no duplicate, also while writes keep arriving; a start below the
oldest retained entry; a subscriber that stops reading keeps the server within its bounds and
later receives every event in order; `end` "lagged" only once needed entries were trimmed."""

import threading

import pytest

import rcp_client as rc
from admin_helpers import AdminConnection, socket_path
from bounds_helpers import rss, sanitized
from data_helpers import DB, uniq
from watch_helpers import (END_KEYS, TICK_DEF, FastJsonlSubscriber, Subscriber, apply_offsets,
                           bulk_apply, check_event_shape)

MIB = 1024 * 1024


def prepare(srv, instances=("i",)):
    w = DB(srv)
    m = uniq("t")
    w.put_machine(m, 1, TICK_DEF)
    for i in instances:
        w.create(i, m)
    return w, m


def test_replay_then_live_as_one_stream(server_factory):
    srv = server_factory()
    w, m = prepare(srv, ("a", "b"))
    before = bulk_apply(srv, ["a", "b"], 50)
    with Subscriber(srv) as s, Subscriber(srv) as si:
        r = s.watch_all(from_offset=1)
        assert r["wal_offset"] == before[-1]
        ri = si.watch_instance("b", from_offset=1, include_ctx=False)
        assert ri["current_wal_offset"] == before[-1]
        got = s.events(50)
        for e in got:
            check_event_shape(e)
        assert [e["wal_offset"] for e in got] == before
        replayed_b = si.events(25)
        for e in replayed_b:
            check_event_shape(e, include_ctx=False)
        assert [e["wal_offset"] for e in replayed_b] == before[1::2]
        # Then live, from the same subscriptions.
        after = bulk_apply(srv, ["a", "b"], 10)
        assert [e["wal_offset"] for e in s.events(10)] == after
        assert [e["wal_offset"] for e in si.events(5)] == after[1::2]
        assert s.nothing_pending() and si.nothing_pending()
    w.close()


def test_replayed_and_live_events_are_the_same_bytes(server_factory):
    srv = server_factory()
    w, m = prepare(srv)
    payload = {"f": 1.5, "big": 12345678901234567890, "s": "é\u0001/", "nested": {"z": [1, {}]}}
    with Subscriber(srv) as live:
        live.watch_all()
        off = w.apply("i", "TICK", payload)["wal_offset"]
        live_event = live.next()
    with Subscriber(srv) as replay:
        replay.watch_all(from_offset=off)
        replayed = replay.next()
    assert replayed["wal_offset"] == live_event["wal_offset"] == off
    # Same text after the subscription id.
    tail = lambda e: bytes(e.payload).split(b'"instance_id"', 1)[1]  # noqa: E731
    assert tail(replayed) == tail(live_event)
    w.close()


def test_from_offset_above_the_latest_starts_there(server_factory):
    srv = server_factory()
    w, m = prepare(srv)
    latest = w.latest()
    with Subscriber(srv) as s:
        s.watch_all(from_offset=latest + 3)
        offs = bulk_apply(srv, ["i"], 4)
        assert offs == [latest + 1, latest + 2, latest + 3, latest + 4]
        assert [e["wal_offset"] for e in s.events(2)] == offs[2:]
        assert s.nothing_pending()
    w.close()


@pytest.mark.parametrize("from_offset", [0, None])
def test_from_offset_zero_or_absent_is_live_only(server_factory, from_offset):
    srv = server_factory()
    w, m = prepare(srv)
    bulk_apply(srv, ["i"], 5)
    with Subscriber(srv) as s:
        params = {} if from_offset is None else {"from_offset": from_offset}
        s.watch_all(**params)
        off = w.apply("i", "TICK")["wal_offset"]
        assert s.next()["wal_offset"] == off
        assert s.nothing_pending()
    w.close()


def test_replay_under_concurrent_writes_has_no_gap_and_no_duplicate(server_factory):
    """3 000 entries retained, then 3 writers add 2 100 more while subscriptions replay from
    offset 1 (and from the middle): each sees exactly the log's apply_event entries from its
    start, in order, across the switch from the log to live delivery."""
    srv = server_factory()
    instances = ["c%d" % k for k in range(8)]
    w, m = prepare(srv, instances)
    first = bulk_apply(srv, instances, 3000, payload={"pad": "x" * 200})
    errors = []

    def writer(k):
        try:
            bulk_apply(srv, instances[k::3], 700, payload={"w": k}, chunk=20)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    subs = [FastJsonlSubscriber(srv), FastJsonlSubscriber(srv), FastJsonlSubscriber(srv)]
    try:
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
        for t in threads:
            t.start()
        starts = [1, first[1500], 1]
        filters = [{}, {}, {"machines": [m]}]
        for sub, start, f in zip(subs, starts, filters):
            params = dict(f, from_offset=start, include_ctx=False)
            rc_ok = sub.request("WATCH_ALL", params)
            assert rc_ok["status"] == "ok", rc_ok
        for t in threads:
            t.join(60)
        assert not errors, errors
        marker = w.apply(instances[0], "TICK")["wal_offset"]
        for sub, start in zip(subs, starts):
            expected = apply_offsets(w, start)
            assert expected[-1] == marker
            got = [e["wal_offset"] for e in sub.messages(len(expected))]
            assert got == expected, "first difference at %d" % next(
                i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
            assert not sub.conn.has_pending_data(0.2)
    finally:
        for sub in subs:
            sub.close()
    w.close()


def test_replay_below_the_oldest_retained_entry_starts_there(server_factory):
    srv = server_factory(["--set", "compaction.retain_entries=20", "--set", "compaction.retain_secs=0"])
    w, m = prepare(srv)
    bulk_apply(srv, ["i"], 100)
    r = w.ok("COMPACT", {})
    assert r["entries_trimmed"] > 0, r
    oldest = w.stats()["oldest_offset"]
    assert oldest > 1
    expected = apply_offsets(w, 1)
    assert expected[0] == oldest
    with Subscriber(srv) as s:
        s.watch_all(from_offset=1)
        assert [e["wal_offset"] for e in s.events(len(expected))] == expected
        off = w.apply("i", "TICK")["wal_offset"]
        assert s.next()["wal_offset"] == off
        assert s.nothing_pending()
    w.close()


def test_stalled_subscribers_stay_bounded_then_receive_everything(server_factory):
    """10 subscribers read nothing while 5 000 events with 2 KB payloads are written (each
    event ~4 KB with ctx: 20 MB per subscriber, 200 MB in all if queued without bound). The
    server's RSS stays within the queues' bounds (not checked under ASan, whose shadow memory
    and quarantine break any RSS bound); then each reads every event in order."""
    queue_bytes = 256 * 1024
    srv = server_factory(["--set", "watch.queue_bytes=%d" % queue_bytes,
                          "--set", "watch.queue_events=256"])
    instances = ["s%d" % k for k in range(4)]
    w, m = prepare(srv, instances)
    subs = [FastJsonlSubscriber(srv, rcvbuf=4096, timeout=60.0) for _ in range(10)]
    try:
        for sub in subs:
            assert sub.request("WATCH_ALL", {})["status"] == "ok"
        pid = srv.proc.pid
        base = rss(pid)
        peak = base
        offsets = []
        payload = {"pad": "p" * 2048}
        for _ in range(25):
            offsets += bulk_apply(srv, instances, 200, payload=payload, chunk=50)
            peak = max(peak, rss(pid))
        assert len(offsets) == 5000
        growth = peak - base
        # Per subscriber: its queue, the coalesced write buffer (1 MiB) and the event being
        # framed; plus the memtable and caches of 10+ MB written. Unbounded: 200 MB.
        bound = 10 * (queue_bytes + 2 * MIB) + 48 * MIB
        assert growth < bound or sanitized(pid), "RSS grew by %.1f MB (bound %.1f MB)" % (growth / MIB, bound / MIB)
        for sub in subs:
            got = sub.messages(5000, timeout=60)
            assert all(e["type"] == "event" for e in got)
            assert [e["wal_offset"] for e in got] == offsets
            assert all(len(e["payload"]["pad"]) == 2048 for e in got[:3])
            assert not sub.conn.has_pending_data(0.2)
        # Live again: one more event reaches every one of them.
        off = w.apply(instances[0], "TICK")["wal_offset"]
        for sub in subs:
            assert sub.next_message()["wal_offset"] == off
    finally:
        for sub in subs:
            sub.close()
    w.close()


def test_lagged_end_only_when_needed_entries_were_trimmed(server_factory):
    srv = server_factory(["--set", "watch.queue_bytes=65536", "--set", "watch.queue_events=16",
                          "--set", "compaction.retain_entries=10", "--set", "compaction.retain_secs=0"])
    w, m = prepare(srv)
    stalled = FastJsonlSubscriber(srv, rcvbuf=4096)
    reading = Subscriber(srv)
    try:
        sid = stalled.request("WATCH_ALL", {})["result"]["subscription_id"]
        rsid = reading.watch_all(include_ctx=False)["subscription_id"]
        offsets = bulk_apply(srv, ["i"], 2000, payload={"pad": "q" * 2048})
        # The reading subscriber keeps up: every event, no end.
        assert [e["wal_offset"] for e in reading.events(2000)] == offsets
        trimmed = w.ok("COMPACT", {})["entries_trimmed"]
        assert trimmed > 0
        oldest = w.stats()["oldest_offset"]
        got = []
        while True:
            msg = stalled.next_message()
            if msg["type"] == "end":
                assert list(msg.keys()) == END_KEYS, msg
                assert msg == {"type": "end", "subscription_id": sid, "reason": "lagged"}
                break
            assert msg["type"] == "event" and msg["subscription_id"] == sid, msg
            got.append(msg["wal_offset"])
        # What it got is a gap-free prefix; the next one it needed is gone.
        assert got == offsets[:len(got)]
        assert len(got) < len(offsets)
        assert offsets[len(got)] < oldest
        # The subscription is gone (removed false), the connection is fine, nothing follows.
        r = stalled.request("UNWATCH", {"subscription_id": sid})
        assert r["result"] == {"subscription_id": sid, "removed": False}, r
        w.apply("i", "TICK")
        assert reading.next()["subscription_id"] == rsid
        assert stalled.request("PING")["result"] == {"pong": True}
        with AdminConnection(socket_path(srv)) as a:
            assert a.request("ADMIN_STATUS")["result"]["subscriptions"] == {"instance": 0, "all": 1}
    finally:
        stalled.close()
        reading.close()
    w.close()
