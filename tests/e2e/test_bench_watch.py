"""rstmdb-bench's watch workload end to end (docs/bench.md "Watch", issue 11 item 8).

The real bench binary (conftest.bench_binary: $RSTMDB_BENCH, else beside $RSTMDBD, else build/)
runs with --local against the real rstmdbd: writers apply events while WATCH_ALL subscribers
read them. The bench itself checks every subscriber's stream against the writers'
acknowledgements (gaps, duplicates, order, instance) and exits 1 on any error; these tests
assert that exit status and the counts in its JSON report, so a server that drops, repeats
or reorders an event, or a bench whose checks stop counting, fails here.
"""
import json
import subprocess
import time

import pytest

from conftest import bench_binary, binary_path, clean_env

# Generous: the lead may SIGSTOP processes for a minute or two on the shared machine.
BENCH_TIMEOUT = "300"
RUN_TIMEOUT = 600
# The server closes a subscriber that stopped reading after network.write_timeout_secs (30 s)
# of wall time without write progress; a run this long was paused, and then that is correct.
STALLED_KEPT_WITHIN_S = 25


def run_bench(args):
    binary = bench_binary()
    if not binary.exists():
        pytest.fail("rstmdb-bench binary not found at %s (build it, or set RSTMDB_BENCH)" % binary)
    p = subprocess.run([str(binary)] + [str(a) for a in args], capture_output=True,
                       env=clean_env(), timeout=RUN_TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def run_watch(subscribers, stalled=0, requests=3000, extra=()):
    # -n rather than -d: a pause of the whole process cannot leave the window empty.
    args = ["--local", str(binary_path()), "--durability", "never", "-c", "4", "-p", "4",
            "-n", requests, "--warmup", "0.2", "--instances", "50", "--timeout", BENCH_TIMEOUT,
            "--subscribers", subscribers, "--stalled-subscribers", stalled, "--json", "-"]
    started = time.monotonic()
    rc, out, err = run_bench(args + list(extra))
    elapsed = time.monotonic() - started
    assert rc == 0, "bench exited %d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err)
    report = json.loads(out.strip().splitlines()[-1])
    return report, err, elapsed


def check_complete(report, subscribers):
    w = report["watch"]
    applies = report["ops"][0]
    assert applies["op"] == "apply_event" and applies["count"] > 0 and applies["errors"] == 0
    assert w["subscribers"] == subscribers
    # Warmup applies are acknowledged too, so at least the measured ones.
    assert w["acknowledged_applies"] >= applies["count"]
    # Every subscriber received every acknowledged apply, once and in order.
    assert w["verified_events"] == w["acknowledged_applies"] * subscribers
    for key in ("gaps", "duplicates", "out_of_order", "wrong_instance", "unexpected",
                "failed_subscribers", "errors"):
        assert w[key] == 0, (key, w)
    assert 0 < w["events"] <= w["verified_events"]
    assert w["events_per_sec"] > 0
    per = w["per_subscriber_events_per_sec"]
    assert 0 < per["min"] <= per["median"] <= per["max"]
    for key in ("latency_us", "latency_from_send_us"):
        lat = w[key]
        assert lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"], (key, lat)
    # An event cannot arrive before its request was sent, but may before the response.
    assert w["latency_from_send_us"]["min"] > 0
    assert w["latency_from_send_us"]["p50"] >= w["latency_us"]["p50"]


def test_subscribers_receive_every_apply_and_a_stalled_one_stays_connected():
    report, err, elapsed = run_watch(10, stalled=1)
    check_complete(report, 10)
    w = report["watch"]
    assert w["stalled_subscribers"] == 1
    if elapsed < STALLED_KEPT_WITHIN_S:
        assert w["stalled_connected_at_end"] == 1, w
    assert report["config"]["subscribers"] == 10
    assert "10 subscriber(s) reading and 1 stalled" in err


def test_a_thousand_subscribers_fit_the_local_servers_raised_connection_limit():
    # 4 writers + 1 control + 1000 subscribers is above the server's default
    # network.max_connections (1000): --local must raise it, or connections are refused.
    report, _, _ = run_watch(1000, requests=500, extra=["--subscriber-threads", "2"])
    check_complete(report, 1000)


def test_watch_options_need_an_event_producing_workload():
    rc, _, err = run_bench(["--subscribers", "1", "-w", "get_instance"])
    assert rc == 2
    assert "need apply_event" in err
