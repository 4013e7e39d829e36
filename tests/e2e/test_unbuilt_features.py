"""Honest configuration: a configured feature that is not built refuses to start, and INFO/HELLO
advertise only what works (STANDARDS; runtime.md §1.2; config/features.hpp).

Every optional feature is built now (TLS: test_tls.py; the metrics endpoint and the access log:
test_metrics.py, test_health.py, test_access_log.py). A build without one refuses turning it on as a
config error (exit 78, one line naming key and source), for `serve` and `check-config` alike; keys
that only tune them warn that they have no effect yet. When a feature lands, its flag in
config/features.cpp flips and the matching case moves to that feature's own tests (the refusal
itself is unit-tested with builds simulated by FeatureSet: tests/unit/config/features_test.cpp).
"""

import rcp_client as rc
from conftest import EXIT_CONFIG, run_rstmdbd

def _lines(text):
    return [line for line in text.splitlines() if line.strip()]


def test_file_source_is_named_with_position(tmp_path):
    cfg = tmp_path / "c.yaml"
    # Every feature is built now: a bad value of a feature key is named the same way.
    cfg.write_text("network:\n  max_connections: 10\nmetrics:\n  enabled: maybe\n")
    r = run_rstmdbd(["check-config", "--config", str(cfg)])
    err = r.stderr.decode()
    assert r.returncode == EXIT_CONFIG, err
    assert ("rstmdbd: config error: metrics.enabled (file:%s:4:12): must be true or false" % cfg) in err, err


def test_tuning_keys_of_unbuilt_features_warn_but_start(server_factory):
    srv = server_factory(["--set", "network.handshake_timeout_secs=3",  # TLS is built: no warning
                          "--set", "watch.max_subscriptions_per_connection=8"],
                         env={"RSTMDB_WATCH_QUEUE_EVENTS": "64"})
    with srv.connect() as c:
        c.ping()
    out = srv.stdout_text()
    warned = [line for line in out.splitlines() if "has no effect yet" in line]
    # TLS and subscriptions are built: their tuning keys take effect without a word.
    assert warned == [], out
    assert "watch." not in out, out


def test_check_config_reports_the_same_warnings(tmp_path):
    r = run_rstmdbd(["check-config", "--data-dir", str(tmp_path / "d"),
                     "--set", "network.handshake_timeout_secs=3",
                     "--set", "watch.queue_bytes=1048576"])
    assert r.returncode == 0, r.stderr.decode()
    err = r.stderr.decode()
    # TLS and subscriptions are built: their tuning keys are ordinary keys, not warnings.
    assert "has no effect" not in err, err
    assert "handshake_timeout_secs" not in err and "watch.queue_bytes" not in err, err


def test_defaults_spelled_out_are_not_refused(tmp_path):
    """A config that names the features only to keep them off (upstream's, the Helm chart's
    defaults) loads without a word."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("network:\n  handshake_timeout_secs: 10\ntls:\n  enabled: false\n"
                   "metrics:\n  enabled: false\n  bind_addr: \"0.0.0.0:9090\"\n"
                   "logging:\n  access_log: \"off\"\n"
                   "watch:\n  max_subscriptions_per_connection: 1024\n  queue_events: 4096\n")
    r = run_rstmdbd(["check-config", "--strict", "--config", str(cfg),
                     "--data-dir", str(tmp_path / "d")])
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode() == "", r.stderr.decode()


def test_info_and_hello_advertise_watch_now_that_it_works(server):
    with server.connect() as c:
        info = rc.assert_ok(c.request("INFO"))
        assert info["features"] == ["idempotency", "batch", "watch", "wal_read", "jsonl"], info
        hello = rc.assert_ok(c.request("HELLO", {"protocol_version": 1,
                                                 "features": ["watch", "batch", "wal_read"]}))
        assert hello["features"] == ["batch", "watch", "wal_read"], hello
        # ... because WATCH_* work (test_watch.py covers them)
        r = rc.assert_ok(c.request("WATCH_ALL", {}))
        assert r["subscription_id"].startswith("sub-"), r
