"""Process lifecycle: signals, configuration errors and exit codes (runtime.md §1, §2.1,
§5.1, §5.3, §5.8; protocol.md §9.3)."""

import signal
import threading
import time

import pytest

import rcp_client as rc
from conftest import EXIT_CONFIG, EXIT_USAGE, run_rstmdbd


# ======================================================================================
# Signals

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_graceful_shutdown(server_factory, sig):
    srv = server_factory(["--set", "network.shutdown_grace_secs=3"])
    idle = srv.connect()
    idle_jsonl = srv.connect("jsonl")
    pending = srv.connect()
    with idle, idle_jsonl, pending:
        idle.ping()
        idle_jsonl.ping()
        # fully sent (and long since received by the server) before the signal, not yet read
        pending.send(rc.make_request("PING", {}, id="before-signal"))
        pending.send(rc.make_request("INFO", None, id="info-before-signal"), framing="jsonl")
        time.sleep(0.3)
        start = time.monotonic()
        srv.send_signal(sig)
        rc_ = srv.wait(3 + 4)
        elapsed = time.monotonic() - start
        assert rc_ is not None, "server did not exit within grace + 4 s of %s" % sig.name
        assert rc_ == 0, "exit code %r after %s\n%s" % (rc_, sig.name, srv.output())
        assert rc.assert_ok(pending.recv("rcpx"), id="before-signal") == {"pong": True}
        assert rc.assert_ok(pending.recv("jsonl"), id="info-before-signal")["server_name"] == "rstmdb"
        pending.expect_closed(2)
        # no goodbye message for connections that did not ask for one
        idle.expect_closed(2)
        idle_jsonl.expect_closed(2)
        assert elapsed < 3 + 4
    assert "Server stopped" in srv.stdout_text(), srv.output()


def test_sigterm_with_idle_client_exits_promptly(server_factory):
    """Nothing to drain: the grace period is an upper bound, not a fixed wait."""
    srv = server_factory(["--set", "network.shutdown_grace_secs=5"])
    with srv.connect() as c:
        c.ping()
        start = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(10) == 0
        assert time.monotonic() - start < 4.0, "took %.1f s" % (time.monotonic() - start)
        c.expect_closed(2)


def test_sigterm_drops_partial_frames(server_factory):
    srv = server_factory(["--set", "network.shutdown_grace_secs=2"])
    with srv.connect() as c, srv.connect("jsonl") as j:
        c.ping()
        j.ping()
        c.send_raw(rc.encode_rcpx(rc.make_request("PING", {}, id="half"))[:25])
        j.send_raw(b'{"id":"half","op":"PI')
        time.sleep(0.2)
        srv.send_signal(signal.SIGTERM)
        assert srv.wait(2 + 4) == 0
        c.expect_closed(2)
        j.expect_closed(2)


def test_sigterm_grace_bounds_undrainable_output(server_factory):
    """A client that never reads cannot hold the server past shutdown_grace_secs."""
    srv = server_factory(["--set", "network.shutdown_grace_secs=1"])
    c = srv.connect("jsonl", rcvbuf=4096)
    with c:
        data = b"".join(rc.encode_jsonl(rc.make_request("PING", {}, id="%05d" % i + "x" * 1000))
                        for i in range(6000))
        errors = []

        def sender():
            try:
                c.send_raw(data, timeout=20)
            except Exception as e:
                errors.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        time.sleep(1.0)
        start = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        code = srv.wait(1 + 5)
        elapsed = time.monotonic() - start
        assert code is not None, "server still running %.1f s after SIGTERM (grace 1 s)" % elapsed
        assert code == 0, srv.output()
    t.join(25)


def test_new_connections_refused_after_shutdown(server_factory):
    srv = server_factory()
    port = srv.port
    srv.send_signal(signal.SIGTERM)
    assert srv.wait(10) == 0
    with pytest.raises(OSError):
        rc.Connection("127.0.0.1", port, timeout=2)


def test_restart_on_same_data_dir(server_factory):
    """The data-dir lock is released on a clean stop."""
    srv = server_factory()
    with srv.connect() as c:
        c.ping()
    assert srv.stop() == 0
    srv2 = server_factory(start=False)
    srv2.data_dir = srv.data_dir
    srv2.args[srv2.args.index("--data-dir") + 1] = str(srv.data_dir)
    srv2.start()
    with srv2.connect() as c:
        c.ping()


# ======================================================================================
# Configuration and command line

def stderr_lines(res):
    return [l for l in res.stderr.decode("utf-8", "replace").splitlines() if l.strip()]


def data_dir(tmp_path):
    d = tmp_path / "data"
    d.mkdir(mode=0o700, exist_ok=True)
    return d


def base_args(tmp_path):
    return ["--bind", "127.0.0.1:0", "--data-dir", tmp_path / "data"]


def assert_config_error(res, *needles):
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    lines = stderr_lines(res)
    assert any(all(n in l for n in needles) for l in lines), \
        "no stderr line contains all of %r:\n%s" % (needles, "\n".join(lines))


@pytest.mark.parametrize("var,value,key", [
    ("RSTMDB_MAX_CONNECTIONS", "0", "network.max_connections"),
    ("RSTMDB_MAX_CONNECTIONS", "abc", "network.max_connections"),
    ("RSTMDB_MAX_CONNECTIONS", "-5", "network.max_connections"),
    ("RSTMDB_MAX_FRAME_BYTES", "4095", "network.max_frame_bytes"),
    ("RSTMDB_MAX_FRAME_BYTES", "16777217", "network.max_frame_bytes"),
    ("RSTMDB_IDLE_TIMEOUT", "soon", "network.idle_timeout_secs"),
    ("RSTMDB_AUTH_REQUIRED", "maybe", "auth.required"),
])
def test_bad_env_value_exit_78(tmp_path, var, value, key):
    res = run_rstmdbd(base_args(tmp_path), env={var: value})
    assert_config_error(res, key, var)


@pytest.mark.parametrize("setting,key", [
    ("network.max_connections=0", "network.max_connections"),
    ("network.max_frame_bytes=1024", "network.max_frame_bytes"),
    ("network.idle_timeout_secs=-1", "network.idle_timeout_secs"),
    ("auth.required=perhaps", "auth.required"),
    ("logging.level=loud", "logging.level"),
    ("storage.fsync_policy=sometimes", "storage.fsync_policy"),
])
def test_bad_flag_value_exit_78(tmp_path, setting, key):
    res = run_rstmdbd(base_args(tmp_path) + ["--set", setting])
    assert_config_error(res, key)


def test_bad_file_value_exit_78_names_file(tmp_path):
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("network:\n  idle_timeout_secs: 5\n  max_connections: 0\n")
    res = run_rstmdbd(base_args(tmp_path) + ["--config", cfg])
    assert_config_error(res, "network.max_connections", str(cfg))


def test_config_file_via_env(tmp_path):
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("network:\n  max_connections: 0\n")
    res = run_rstmdbd(base_args(tmp_path), env={"RSTMDB_CONFIG": str(cfg)})
    assert_config_error(res, "network.max_connections", str(cfg))


def test_missing_config_file_exit_78(tmp_path):
    res = run_rstmdbd(base_args(tmp_path) + ["--config", tmp_path / "nope.yaml"])
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stderr)


def test_invalid_yaml_exit_78(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("network: [unclosed\n")
    res = run_rstmdbd(base_args(tmp_path) + ["--config", cfg])
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stderr)


def test_multiple_problems_each_reported(tmp_path):
    res = run_rstmdbd(base_args(tmp_path), env={"RSTMDB_MAX_CONNECTIONS": "0",
                                                "RSTMDB_IDLE_TIMEOUT": "x"})
    assert_config_error(res, "network.max_connections", "RSTMDB_MAX_CONNECTIONS")
    assert_config_error(res, "network.idle_timeout_secs", "RSTMDB_IDLE_TIMEOUT")


def test_flag_overrides_env(server_factory):
    """Precedence: defaults < file < env < flags."""
    srv = server_factory(["--set", "network.max_connections=2"],
                         env={"RSTMDB_MAX_CONNECTIONS": "1"})
    with srv.connect() as a, srv.connect() as b:
        a.ping()
        b.ping()


def test_env_overrides_file(server_factory, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("network:\n  max_frame_bytes: 8192\n")
    srv = server_factory(["--config", cfg], env={"RSTMDB_MAX_FRAME_BYTES": "4096"})
    with srv.connect() as c:
        info = rc.assert_ok(c.request("INFO"))
        assert info["max_frame_bytes"] == 4096, info


def test_check_config_good(tmp_path):
    cfg = tmp_path / "good.yaml"
    cfg.write_text("network:\n  max_connections: 10\n  idle_timeout_secs: 60\n")
    res = run_rstmdbd(["check-config", "--config", cfg, "--data-dir", data_dir(tmp_path)])
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)


def test_check_config_defaults_good(tmp_path):
    res = run_rstmdbd(["check-config", "--data-dir", data_dir(tmp_path)])
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)


def test_check_config_bad(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("network:\n  max_connections: 0\n")
    res = run_rstmdbd(["check-config", "--config", cfg, "--data-dir", data_dir(tmp_path)])
    assert_config_error(res, "network.max_connections")


def test_check_config_bad_env(tmp_path):
    res = run_rstmdbd(["check-config", "--data-dir", data_dir(tmp_path)],
                      env={"RSTMDB_MAX_CONNECTIONS": "0"})
    assert_config_error(res, "network.max_connections", "RSTMDB_MAX_CONNECTIONS")


def test_check_config_auth_required_without_hashes(tmp_path):
    res = run_rstmdbd(["check-config", "--data-dir", data_dir(tmp_path),
                       "--set", "auth.required=true"])
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stderr)


def test_check_config_beside_running_server(server_factory):
    """check-config takes no lock, so it works next to a live server on the same data dir."""
    srv = server_factory()
    res = run_rstmdbd(["check-config", "--data-dir", srv.data_dir])
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    with srv.connect() as c:
        c.ping()


@pytest.mark.parametrize("args", [
    ["--no-such-flag"],
    ["frobnicate"],
    ["serve", "--definitely-not-an-option", "1"],
    ["check-config", "--nope"],
    ["--set"],
])
def test_usage_error_exit_64(tmp_path, args):
    # --bind/--data-dir first, so that a binary that wrongly starts uses no fixed port
    res = run_rstmdbd(base_args(tmp_path) + args, cwd=tmp_path)
    assert res.returncode == EXIT_USAGE, (res.returncode, res.stdout, res.stderr)


def test_usage_error_missing_option_value(tmp_path):
    res = run_rstmdbd(["--data-dir", tmp_path / "data", "--bind"], cwd=tmp_path)
    assert res.returncode == EXIT_USAGE, (res.returncode, res.stdout, res.stderr)


def test_version_flag(tmp_path):
    res = run_rstmdbd(["--version"], cwd=tmp_path)
    assert res.returncode == 0, (res.returncode, res.stderr)
    out = res.stdout.decode()
    assert out.startswith("rstmdbd "), out
    assert "rstmdb-cpp" in out and "protocol 1" in out, out


def test_listening_line_on_stdout(server_factory):
    srv = server_factory()
    assert "Server listening on 127.0.0.1:%d (plain)" % srv.port in srv.stdout_text(), srv.output()


def test_serve_subcommand_explicit(server_factory):
    srv = server_factory(start=False)
    srv.args.insert(1, "serve")
    srv.start()
    with srv.connect() as c:
        c.ping()


def test_unknown_key_warns_but_strict_check_fails(tmp_path):
    cfg = tmp_path / "extra.yaml"
    cfg.write_text("network:\n  max_connections: 10\n  no_such_key: 1\n")
    res = run_rstmdbd(["check-config", "--config", cfg, "--data-dir", data_dir(tmp_path)])
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr)
    assert "no_such_key" in (res.stdout + res.stderr).decode("utf-8", "replace")
    res = run_rstmdbd(["check-config", "--strict", "--config", cfg, "--data-dir", data_dir(tmp_path)])
    assert res.returncode == EXIT_CONFIG, (res.returncode, res.stdout, res.stderr)


def test_server_starts_with_unknown_key(server_factory, tmp_path):
    cfg = tmp_path / "extra.yaml"
    cfg.write_text("network:\n  no_such_key: 1\n")
    srv = server_factory(["--config", cfg])
    with srv.connect() as c:
        c.ping()
