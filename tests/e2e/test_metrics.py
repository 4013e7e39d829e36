"""The Prometheus series of runtime.md §4.2 on the real server's /metrics endpoint (§4.1):
every upstream name with upstream's type and labels (so the upstream Grafana dashboard works
unchanged), the process_* series, the extras, the histogram buckets as listed, values that
move with real traffic, gauges that are right from startup and after a restart, and gauges
that come back to their baseline after 100 connect/disconnect cycles over every disconnect
path.
"""

import math
import socket
import time

import pytest

import rcp_client as rc
from data_helpers import restart
from metrics_helpers import METRICS_ARGS, metrics_port, scrape, start_metrics_server, wait_for_metric

# runtime.md §4.2: the upstream series, exactly (name -> type).
UPSTREAM = {
    "rstmdb_connections_total": "counter",
    "rstmdb_connections_active": "gauge",
    "rstmdb_requests_total": "counter",
    "rstmdb_errors_total": "counter",
    "rstmdb_request_duration_seconds": "histogram",
    "rstmdb_subscriptions_active": "gauge",
    "rstmdb_events_forwarded_total": "counter",
    "rstmdb_instances_total": "gauge",
    "rstmdb_machines_total": "gauge",
    "rstmdb_wal_entries": "gauge",
    "rstmdb_wal_segments": "gauge",
    "rstmdb_wal_size_bytes": "gauge",
    "rstmdb_wal_bytes_written_total": "counter",
    "rstmdb_wal_bytes_read_total": "counter",
    "rstmdb_wal_writes_total": "counter",
    "rstmdb_wal_reads_total": "counter",
    "rstmdb_wal_fsyncs_total": "counter",
}
PROCESS = {
    "process_cpu_seconds_total": "counter",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_resident_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_threads": "gauge",
}
EXTRAS = {
    "rstmdb_build_info": "gauge",
    "rstmdb_uptime_seconds": "gauge",
    "rstmdb_ready": "gauge",
    "rstmdb_connections_limit": "gauge",
    "rstmdb_requests_in_flight": "gauge",
    "rstmdb_instances_by_state": "gauge",
    "rstmdb_wal_offset": "gauge",
    "rstmdb_wal_oldest_offset": "gauge",
    "rstmdb_tls_certificate_expiry_timestamp_seconds": "gauge",
    "rstmdb_config_last_reload_success_timestamp_seconds": "gauge",
    "rstmdb_backup_last_success_timestamp_seconds": "gauge",
    "rstmdb_connections_rejected_total": "counter",
    "rstmdb_connections_closed_total": "counter",
    "rstmdb_protocol_errors_total": "counter",
    "rstmdb_transitions_total": "counter",
    "rstmdb_subscriptions_lagged_total": "counter",
    "rstmdb_compactions_total": "counter",
    "rstmdb_config_reloads_total": "counter",
    "rstmdb_wal_write_duration_seconds": "histogram",
    "rstmdb_wal_fsync_duration_seconds": "histogram",
    "rstmdb_wal_group_commit_size": "histogram",
}
# Families that have no sample until something happens (no TLS certificate; no transition yet;
# no machine stored yet for the per-state gauges).
EMPTY_AT_START = {"rstmdb_tls_certificate_expiry_timestamp_seconds", "rstmdb_transitions_total",
                  "rstmdb_instances_by_state"}

DURATION_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    0.5, 1, 2.5, 5, math.inf]
GROUP_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, math.inf]

TICK = {"states": ["s"], "initial": "s", "transitions": [{"from": "s", "event": "TICK", "to": "s"}]}
ORDER = {"states": ["created", "paid", "shipped"], "initial": "created",
         "transitions": [{"from": "created", "event": "PAY", "to": "paid"},
                         {"from": "paid", "event": "SHIP", "to": "shipped"}]}


@pytest.fixture(scope="module")
def msrv(module_server_factory):
    return start_metrics_server(module_server_factory)


def _has_samples(s, name, kind):
    if kind == "histogram":
        return bool(s.series(name + "_count")) and bool(s.series(name + "_bucket"))
    return bool(s.series(name))


def _buckets(s, name, **labels):
    """The `le` bounds of one histogram series, in order."""
    out = []
    for (n, lab), _ in s.samples.items():
        d = dict(lab)
        if n == name + "_bucket" and all(d.get(k) == v for k, v in labels.items()) \
                and len(d) == len(labels) + 1:
            out.append(float(d["le"]))
    return sorted(out)


def test_every_series_is_present_with_its_type_from_startup(server_factory):
    srv = start_metrics_server(server_factory)
    s = scrape(srv)  # the first scrape of a fresh server
    for table in (UPSTREAM, PROCESS, EXTRAS):
        for name, kind in table.items():
            assert s.family_type(name) == kind, (name, s.family_type(name))
            if name not in EMPTY_AT_START:
                assert _has_samples(s, name, kind), name
    # Labels of the upstream series: every op name and UNKNOWN, every error code, both types.
    assert s.label_values("rstmdb_requests_total", "operation") == set(rc.KNOWN_OPS) | {"UNKNOWN"}
    assert s.label_values("rstmdb_request_duration_seconds_count", "operation") == \
        set(rc.KNOWN_OPS) | {"UNKNOWN"}
    assert s.label_values("rstmdb_errors_total", "code") == set(rc.ERROR_CODES)
    for name in ("rstmdb_subscriptions_active", "rstmdb_events_forwarded_total",
                 "rstmdb_subscriptions_lagged_total"):
        assert s.label_values(name, "type") == {"instance", "all"}, name
    assert {"limit", "tls_handshake", "handshake_timeout"} <= \
        s.label_values("rstmdb_connections_rejected_total", "reason")
    assert {"client", "idle", "protocol_error", "revoked", "shutdown"} <= \
        s.label_values("rstmdb_connections_closed_total", "reason")
    assert s.label_values("rstmdb_protocol_errors_total", "reason") == \
        {"bad_magic", "bad_version", "bad_flags", "too_large", "crc"}
    assert s.label_values("rstmdb_compactions_total", "trigger") == {"manual", "events", "size"}
    assert s.label_values("rstmdb_config_reloads_total", "result") == {"success", "failure"}
    # Buckets as listed (a superset of upstream's), and powers of two for the group size.
    for op in ("PING", "APPLY_EVENT", "UNKNOWN"):
        assert _buckets(s, "rstmdb_request_duration_seconds", operation=op) == DURATION_BUCKETS
    assert _buckets(s, "rstmdb_wal_group_commit_size") == GROUP_SIZE_BUCKETS
    # Values that are right at startup.
    assert s.value("rstmdb_connections_active") == 0
    assert s.value("rstmdb_requests_in_flight") == 0
    assert s.value("rstmdb_ready") == 1
    assert s.value("rstmdb_connections_limit") == 1000
    assert s.value("rstmdb_build_info", version="0.1.0", implementation="rstmdb-cpp") == 1
    assert s.value("rstmdb_instances_total") == 0
    assert s.value("rstmdb_machines_total") == 0
    assert 0 < s.value("rstmdb_uptime_seconds") < 60
    assert s.value("process_open_fds") > 0
    assert s.value("process_max_fds") >= s.value("process_open_fds")
    assert s.value("process_resident_memory_bytes") > 1 << 20
    assert s.value("process_threads") >= 3
    assert abs(s.value("process_start_time_seconds") - time.time()) < 60
    # Nothing but what the server defines: no stray families.
    known = set(UPSTREAM) | set(PROCESS) | set(EXTRAS)
    assert set(s.types) == known, set(s.types) ^ known


def test_values_move_with_traffic(msrv):
    before = scrape(msrv)
    with msrv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "m-order", "version": 1, "definition": ORDER}))
        rc.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "mo-1", "machine": "m-order",
                                                   "version": 1}))
        rc.assert_ok(c.request("APPLY_EVENT", {"instance_id": "mo-1", "event": "PAY"}))
        rc.assert_error(c.request("APPLY_EVENT", {"instance_id": "mo-1", "event": "PAY"}),
                        "INVALID_TRANSITION")
        rc.assert_error(c.request("GET_INSTANCE", {"instance_id": "nope"}), "INSTANCE_NOT_FOUND")
        rc.assert_error(c.request("FROBNICATE"), "BAD_REQUEST")
        batch = rc.assert_ok(c.request("BATCH", {"ops": [
            {"op": "CREATE_INSTANCE", "params": {"instance_id": "mo-2", "machine": "m-order", "version": 1}},
            {"op": "APPLY_EVENT", "params": {"instance_id": "mo-2", "event": "SHIP"}},
            {"op": "GET_INSTANCE", "params": {"instance_id": "mo-404"}},
        ]}))
        assert [r["status"] for r in batch["results"]] == ["ok", "error", "error"], batch
        rc.assert_ok(c.request("WAL_READ", {"from_offset": 1}))
        for _ in range(3):
            rc.assert_ok(c.request("PING"))
        s = scrape(msrv)
        # This connection is still open.
        assert s.value("rstmdb_connections_active") == before.value("rstmdb_connections_active") + 1

    def delta(name, **labels):
        return s.value(name, **labels) - before.value(name, **labels)

    assert delta("rstmdb_connections_total") == 1
    assert delta("rstmdb_requests_total", operation="PING") == 3
    assert delta("rstmdb_requests_total", operation="PUT_MACHINE") == 1
    # Two APPLY_EVENT requests plus the BATCH element; one CREATE_INSTANCE plus the element.
    assert delta("rstmdb_requests_total", operation="APPLY_EVENT") == 3
    assert delta("rstmdb_requests_total", operation="CREATE_INSTANCE") == 2
    assert delta("rstmdb_requests_total", operation="GET_INSTANCE") == 2
    assert delta("rstmdb_requests_total", operation="BATCH") == 1
    assert delta("rstmdb_requests_total", operation="UNKNOWN") == 1
    # The client's op name never becomes a label value.
    assert "FROBNICATE" not in s.text
    # Duration histograms count requests (BATCH elements have no duration of their own).
    assert delta("rstmdb_request_duration_seconds_count", operation="PING") == 3
    assert delta("rstmdb_request_duration_seconds_count", operation="APPLY_EVENT") == 2
    assert delta("rstmdb_request_duration_seconds_bucket", operation="PING", le="+Inf") == 3
    assert delta("rstmdb_request_duration_seconds_sum", operation="PING") > 0
    # Errors, BATCH elements included.
    assert delta("rstmdb_errors_total", code="INVALID_TRANSITION") == 2
    assert delta("rstmdb_errors_total", code="INSTANCE_NOT_FOUND") == 2
    assert delta("rstmdb_errors_total", code="BAD_REQUEST") == 1
    # Data gauges.
    assert delta("rstmdb_machines_total") == 1
    assert delta("rstmdb_instances_total") == 2
    assert s.value("rstmdb_instances_by_state", machine="m-order", state="paid") == 1
    assert s.value("rstmdb_instances_by_state", machine="m-order", state="created") == 1
    assert s.value("rstmdb_instances_by_state", machine="m-order", state="shipped") == 0
    assert s.value("rstmdb_transitions_total", machine="m-order", **{"from": "created", "to": "paid"}) == 1
    # The log: 4 entries written (machine, 2 creates, 1 apply), read back by WAL_READ.
    assert delta("rstmdb_wal_offset") == 4
    assert delta("rstmdb_wal_entries") == 4
    assert delta("rstmdb_wal_writes_total") == 4
    assert delta("rstmdb_wal_bytes_written_total") > 0
    assert delta("rstmdb_wal_reads_total") >= 4
    assert delta("rstmdb_wal_bytes_read_total") > 0
    assert delta("rstmdb_wal_size_bytes") >= 0
    # every_write: each write group was synced, and timed.
    assert delta("rstmdb_wal_fsyncs_total") >= 1
    assert delta("rstmdb_wal_write_duration_seconds_count") >= 1
    assert delta("rstmdb_wal_fsync_duration_seconds_count") >= 1
    assert delta("rstmdb_wal_group_commit_size_count") >= 1
    assert delta("rstmdb_wal_group_commit_size_sum") >= 4
    # The answered connection is gone again.
    wait_for_metric(msrv, lambda x: x.value("rstmdb_connections_active") ==
                    before.value("rstmdb_connections_active"), "connections_active back")


def test_pipelined_durable_writes_in_one_send_share_their_syncs(msrv):
    # A client that pipelines: 32 durable APPLY_EVENTs sent in one write. The server starts
    # every request one read completed as one batch, so they are written in one group (one
    # fsync) or, if the kernel splits the bytes over a few reads, a few; one sync per request
    # would be 32.
    n = 32
    with msrv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "m-pipe", "version": 1, "definition": TICK}))
        rc.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "mp-1", "machine": "m-pipe",
                                                   "version": 1}))
        before = scrape(msrv)
        c.send_raw(b"".join(rc.encode(rc.make_request("APPLY_EVENT", {"instance_id": "mp-1", "event": "TICK"},
                                                      id="a%d" % i), "rcpx") for i in range(n)))
        offsets = [rc.assert_ok(c.recv("rcpx"), id="a%d" % i)["wal_offset"] for i in range(n)]
        assert offsets == list(range(offsets[0], offsets[0] + n))
        after = scrape(msrv)
    delta = lambda name: after.value(name) - before.value(name)
    assert delta("rstmdb_wal_group_commit_size_sum") == n
    assert 1 <= delta("rstmdb_wal_fsyncs_total") <= 4


def test_compaction_counted_by_trigger(msrv):
    before = scrape(msrv)
    with msrv.connect() as c:
        rc.assert_ok(c.request("COMPACT"))
    s = scrape(msrv)
    assert s.value("rstmdb_compactions_total", trigger="manual") == \
        before.value("rstmdb_compactions_total", trigger="manual") + 1
    assert s.value("rstmdb_compactions_total", trigger="events") == \
        before.value("rstmdb_compactions_total", trigger="events")


def _bad_magic(srv):
    s = socket.create_connection((srv.host, srv.port), timeout=5)
    s.sendall(b"RCPZ" + b"\0" * 16)
    s.settimeout(5)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()


def _reset_mid_request(srv):
    """Pipelined requests, one of them half sent, then a TCP reset."""
    c = srv.connect()
    frame = rc.encode(rc.make_request("PING", id="p"))
    c.send_raw(frame * 5 + frame[: len(frame) // 2])
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.sock.close()


def _bye(srv):
    """BYE with requests pipelined behind it (discarded unanswered, protocol.md §13)."""
    with srv.connect() as c:
        ping = rc.encode(rc.make_request("PING", id="after"))
        c.send_raw(rc.encode(rc.make_request("BYE", id="bye")) + ping * 3)
        rc.assert_ok(c.recv_response(), id="bye")
        c.expect_closed()


def _plain(srv):
    with srv.connect() as c:
        rc.assert_ok(c.request("PING"))


def _unanswered_write(srv):
    """A write sent and the connection closed before its answer is read."""
    c = srv.connect()
    c.send(rc.make_request("CREATE_INSTANCE", {"machine": "cycle", "version": 1}, id="w"))
    c.close()


def test_gauges_back_to_baseline_after_100_connect_disconnect_cycles(server_factory):
    srv = start_metrics_server(server_factory, ["--set", "network.max_connections=8"])
    with srv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "cycle", "version": 1, "definition": TICK}))
    # Settled on both sides: a scrape reads the counters a moment before the gauges, and a close
    # counts itself before it leaves the gauge, so "active == 0" alone can still show the first
    # connection not yet counted closed (then the 108 below is never reached).
    base = wait_for_metric(srv, lambda x: x.value("rstmdb_connections_active") == 0 and
                           x.value("rstmdb_connections_total") ==
                           sum(x.series("rstmdb_connections_closed_total").values()), "idle start")
    paths = [_plain, _bye, _bad_magic, _reset_mid_request, _unanswered_write]
    for i in range(100):
        # The server closes its side a moment after the client: stay clear of the limit of 8.
        wait_for_metric(srv, lambda x: x.value("rstmdb_connections_active") <= 4, "below the limit")
        paths[i % len(paths)](srv)
    # And 8 held open at once (once the server has seen the others go), one more refused at
    # the limit, all dropped together.
    # (A connection the client reset at once may still wait in the backlog after the others
    # are gone: wait until the server accepted all 100.)
    wait_for_metric(srv, lambda x: x.value("rstmdb_connections_active") == 0 and
                    x.value("rstmdb_connections_total") - base.value("rstmdb_connections_total") == 100,
                    "cycles accepted and closed")
    held = [srv.connect() for _ in range(8)]
    for h in held:
        rc.assert_ok(h.request("PING"))
    extra = srv.connect()
    extra.expect_closed()
    extra.close()
    full = scrape(srv)
    assert full.value("rstmdb_connections_active") == 8
    for h in held:
        h.close()

    def settled(x):
        # (A scrape is not one snapshot: the counters are read a moment before the gauges.)
        accepted = x.value("rstmdb_connections_total") - base.value("rstmdb_connections_total")
        closed = sum(x.series("rstmdb_connections_closed_total").values()) - \
            sum(base.series("rstmdb_connections_closed_total").values())
        return (x.value("rstmdb_connections_active") == 0 and
                x.value("rstmdb_requests_in_flight") == 0 and accepted == closed == 108)

    s = wait_for_metric(srv, settled, "gauges back to baseline")
    assert s.value("rstmdb_connections_active") == base.value("rstmdb_connections_active")
    assert s.value("rstmdb_requests_in_flight") == base.value("rstmdb_requests_in_flight")
    assert s.value("rstmdb_subscriptions_active", type="instance") == 0
    assert s.value("rstmdb_subscriptions_active", type="all") == 0
    accepted = s.value("rstmdb_connections_total") - base.value("rstmdb_connections_total")
    assert accepted == 108
    closed = sum(s.series("rstmdb_connections_closed_total").values()) - \
        sum(base.series("rstmdb_connections_closed_total").values())
    assert closed == accepted
    assert s.value("rstmdb_connections_closed_total", reason="protocol_error") - \
        base.value("rstmdb_connections_closed_total", reason="protocol_error") == 20
    assert s.value("rstmdb_protocol_errors_total", reason="bad_magic") - \
        base.value("rstmdb_protocol_errors_total", reason="bad_magic") == 20
    assert s.value("rstmdb_connections_rejected_total", reason="limit") - \
        base.value("rstmdb_connections_rejected_total", reason="limit") == 1
    # Requests counted and finished: 20 plain PINGs and 8 held ones at least.
    assert s.value("rstmdb_requests_total", operation="PING") - \
        base.value("rstmdb_requests_total", operation="PING") >= 28


def test_idle_close_counted_and_balanced(server_factory):
    srv = start_metrics_server(server_factory, ["--set", "network.idle_timeout_secs=1",
                                                "--set", "logging.level=debug"])
    base = scrape(srv)
    c = srv.connect()
    rc.assert_ok(c.request("PING"))
    assert scrape(srv).value("rstmdb_connections_active") == 1
    c.expect_closed(timeout=10)
    c.close()
    # (A scrape reads the counters a moment before the gauges: wait for both.)
    s = wait_for_metric(srv, lambda x: x.value("rstmdb_connections_active") == 0 and
                        sum(x.series("rstmdb_connections_closed_total").values()) == 1, "idle close")
    assert s.value("rstmdb_connections_closed_total", reason="idle") - \
        base.value("rstmdb_connections_closed_total", reason="idle") == 1, \
        (s.series("rstmdb_connections_closed_total"), srv.output())


def test_gauges_right_after_restart(server_factory):
    srv = start_metrics_server(server_factory)
    with srv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "r", "version": 1, "definition": ORDER}))
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "r", "version": 2, "definition": TICK}))
        for i in range(5):
            rc.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "r-%d" % i, "machine": "r",
                                                       "version": 1}))
        rc.assert_ok(c.request("APPLY_EVENT", {"instance_id": "r-0", "event": "PAY"}))
        rc.assert_ok(c.request("DELETE_INSTANCE", {"instance_id": "r-4"}))
    before = scrape(srv)
    assert before.value("rstmdb_instances_total") == 4
    again = restart(server_factory, srv, METRICS_ARGS)
    again.metrics_port = metrics_port(again)
    s = scrape(again)  # the first scrape after the restart
    assert s.value("rstmdb_instances_total") == 4
    assert s.value("rstmdb_machines_total") == 2
    assert s.value("rstmdb_wal_offset") == before.value("rstmdb_wal_offset")
    assert s.value("rstmdb_wal_entries") == before.value("rstmdb_wal_entries")
    assert s.value("rstmdb_instances_by_state", machine="r", state="created") == 3
    assert s.value("rstmdb_instances_by_state", machine="r", state="paid") == 1
    assert s.value("rstmdb_instances_by_state", machine="r", state="s") == 0
    assert s.value("rstmdb_connections_active") == 0
    # Counters start again from zero in a new process.
    assert s.value("rstmdb_requests_total", operation="CREATE_INSTANCE") == 0


def test_state_gauges_off_drops_the_per_state_series(server_factory):
    srv = start_metrics_server(server_factory, ["--set", "metrics.state_gauges=false"])
    with srv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "q", "version": 1, "definition": ORDER}))
    s = scrape(srv)
    assert s.series("rstmdb_instances_by_state") == {}
    assert s.value("rstmdb_machines_total") == 1


def test_metrics_off_by_default_has_no_endpoint(server):
    assert "Metrics listening" not in server.stdout_text()


def test_every_series_the_compose_dashboard_reads_is_served(msrv):
    """deploy/compose's Grafana dashboard queries only series this server serves."""
    import json
    import re
    from pathlib import Path
    dashboard = Path(__file__).resolve().parents[2] / "deploy/compose/grafana/dashboards/rstmdb-cpp.json"
    names = set(re.findall(r"\b((?:rstmdb|process)_[a-z_]+)", dashboard.read_text()))
    assert len(names) > 20, names
    json.loads(dashboard.read_text())  # it is JSON
    s = scrape(msrv)
    served = set(s.types)
    for name in names:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in served or (base in served and s.family_type(base) == "histogram"), name


def test_subscription_series_move_and_come_back_on_disconnect(msrv):
    from watch_helpers import Subscriber
    with msrv.connect() as c:
        rc.assert_ok(c.request("PUT_MACHINE", {"machine": "sub", "version": 1, "definition": TICK}))
        rc.assert_ok(c.request("CREATE_INSTANCE", {"instance_id": "sub-1", "machine": "sub", "version": 1}))
    before = scrape(msrv)
    sub_all, sub_one = Subscriber(msrv), Subscriber(msrv)
    sub_all.watch_all()
    sub_one.watch_instance("sub-1")
    s = scrape(msrv)
    assert s.value("rstmdb_subscriptions_active", type="all") == before.value("rstmdb_subscriptions_active", type="all") + 1
    assert s.value("rstmdb_subscriptions_active", type="instance") == \
        before.value("rstmdb_subscriptions_active", type="instance") + 1
    with msrv.connect() as c:
        rc.assert_ok(c.request("APPLY_EVENT", {"instance_id": "sub-1", "event": "TICK"}))
    sub_all.next()
    sub_one.next()
    s = wait_for_metric(msrv, lambda x: x.value("rstmdb_events_forwarded_total", type="all") >
                        before.value("rstmdb_events_forwarded_total", type="all") and
                        x.value("rstmdb_events_forwarded_total", type="instance") >
                        before.value("rstmdb_events_forwarded_total", type="instance"), "events forwarded")
    # Disconnects (no UNWATCH): both gauges back to where they were.
    sub_all.close()
    sub_one.close()
    wait_for_metric(msrv, lambda x: x.value("rstmdb_subscriptions_active", type="all") ==
                    before.value("rstmdb_subscriptions_active", type="all") and
                    x.value("rstmdb_subscriptions_active", type="instance") ==
                    before.value("rstmdb_subscriptions_active", type="instance"), "subscriptions back")
