"""Fixtures that run the real rstmdbd binary for the end-to-end tests.

Binary: $RSTMDBD, default <repo>/build/server/rstmdbd. Each server gets a fresh data
directory, binds 127.0.0.1:0 and is found through its `Server listening on
127.0.0.1:PORT (plain)` log line. Its stdout/stderr go to files that are attached to the
report of a failing test.
"""

import errno
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rcp_client  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BINARY = REPO_ROOT / "build" / "server" / "rstmdbd"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# Safety net: no single test may run longer than this (seconds).
TEST_TIME_LIMIT = 90

LISTEN_RE = re.compile(r"Server listening on 127\.0\.0\.1:(\d+) \((?:plain|tls)\)")

# Exit codes of runtime.md §5.8.
EXIT_OK = 0
EXIT_USAGE = 64
EXIT_CONFIG = 78


def binary_path():
    return Path(os.environ.get("RSTMDBD") or DEFAULT_BINARY)


def bench_binary():
    """rstmdb-bench: $RSTMDB_BENCH, else the one beside $RSTMDBD's build, else the Release
    build's (the ASan stage builds only the server, the preload library and the unit tests;
    its end-to-end run uses the Release rstmdb-cli and rstmdb-bench)."""
    if os.environ.get("RSTMDB_BENCH"):
        return Path(os.environ["RSTMDB_BENCH"])
    beside = binary_path().resolve().parents[1] / "tools" / "bench" / "rstmdb-bench"
    if beside.exists():
        return beside
    return REPO_ROOT / "build" / "tools" / "bench" / "rstmdb-bench"


def clean_env(extra=None):
    """The test's environment without any inherited rstmdbd configuration."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RSTMDB_") and k not in ("RUST_LOG", "NOTIFY_SOCKET",
                                                         "JOURNAL_STREAM", "WATCHDOG_USEC",
                                                         "WATCHDOG_PID")}
    env.pop("RSTMDBD", None)
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def _short_dir(base):
    """A directory whose admin socket path (<dir>/admin.sock) fits in 107 bytes."""
    base = Path(base)
    if len(str(base / "data" / "admin.sock")) <= 100:
        return base, None
    d = tempfile.mkdtemp(prefix="rstmdb-e2e-", dir="/tmp")
    return Path(d), d


def _tail(path, limit=8000):
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    text = data.decode("utf-8", "replace")
    if len(text) > limit:
        text = "...[%d bytes cut]...\n" % (len(text) - limit) + text[-limit:]
    return text


def _spawn(start, patience=15.0):
    """start() retried while the binary is being relinked (EACCES/ETXTBSY for a moment)."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return start()
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.ETXTBSY, errno.ENOENT, errno.ENOEXEC) \
                    or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


class ServerProcess:
    """One running rstmdbd."""

    def __init__(self, workdir, extra_args=(), env=None, name="rstmdbd"):
        self.workdir, self._tmp_to_remove = _short_dir(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.workdir / "data"
        self.name = name
        self.stdout_path = self.workdir / ("%s.stdout.log" % name)
        self.stderr_path = self.workdir / ("%s.stderr.log" % name)
        self.args = [str(binary_path()), "--bind", "%s:0" % HOST,
                     "--data-dir", str(self.data_dir)] + [str(a) for a in extra_args]
        self.env = clean_env(env)
        self.proc = None
        self.port = None
        self.host = HOST
        self.stopped = False
        self.returncode = None
        self.killed = False
        self.tls_client = None  # an ssl.SSLContext that connect() uses, for servers with TLS

    def start(self):
        binary = binary_path()
        if not binary.exists():
            pytest.fail("rstmdbd binary not found at %s (build it, or set RSTMDBD)" % binary)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = _spawn(lambda: subprocess.Popen(
                self.args, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=self.env,
                cwd=str(self.workdir)))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            # stdout per runtime.md §4.4; stderr is searched too so that a wrong log sink
            # fails one dedicated test (test_lifecycle) instead of the whole suite.
            m = (LISTEN_RE.search(_tail(self.stdout_path, 1 << 20))
                 or LISTEN_RE.search(_tail(self.stderr_path, 1 << 20)))
            if m:
                port = int(m.group(1))
                if port == 0:
                    self.stop_quietly()
                    pytest.fail("server logged port 0 instead of the bound port\n" + self.output())
                self.port = port
                return self
            rc = self.proc.poll()
            if rc is not None:
                self.stopped = True
                self.returncode = rc
                pytest.fail("rstmdbd exited with code %d before listening; args=%r\n%s"
                            % (rc, self.args, self.output()))
            if time.monotonic() > deadline:
                self.stop_quietly()
                pytest.fail("rstmdbd did not log 'Server listening on 127.0.0.1:PORT (plain)' "
                            "within %.0f s; args=%r\n%s" % (STARTUP_TIMEOUT, self.args, self.output()))
            time.sleep(0.02)

    def output(self):
        return ("---- %s stdout (%s) ----\n%s\n---- %s stderr (%s) ----\n%s"
                % (self.name, self.stdout_path, _tail(self.stdout_path), self.name,
                   self.stderr_path, _tail(self.stderr_path)))

    def stdout_text(self):
        return _tail(self.stdout_path, 1 << 24)

    def stderr_text(self):
        return _tail(self.stderr_path, 1 << 24)

    def connect(self, framing="rcpx", timeout=rcp_client.DEFAULT_TIMEOUT, **kw):
        """An RCP connection; over TLS (trusting the server's test CA) when the server was
        started with tls_client set (tls_helpers.start_tls_server)."""
        if self.tls_client is not None and "ssl_context" not in kw:
            kw["ssl_context"] = self.tls_client
        return rcp_client.Connection(self.host, self.port, framing=framing, timeout=timeout, **kw)

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Wait for exit; return the exit code or None on timeout."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.stopped = True
        self.returncode = rc
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Signal, wait up to `timeout`, then SIGKILL. Returns the exit code."""
        if self.stopped or self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        if rc is None:
            self.killed = True
            self.proc.kill()
            rc = self.proc.wait(timeout=10)
            self.stopped = True
            self.returncode = rc
        return rc

    def stop_quietly(self):
        try:
            self.stop()
        except Exception:
            pass

    def cleanup_tmp(self):
        if self._tmp_to_remove:
            import shutil
            shutil.rmtree(self._tmp_to_remove, ignore_errors=True)
            self._tmp_to_remove = None


def _finish(servers):
    """Stop every server; return the list of problems (kills, non-zero exits)."""
    problems = []
    for s in servers:
        if s.proc is None:
            continue
        was_running = not s.stopped
        rc = s.stop()
        if was_running and s.killed:
            problems.append("%s did not exit within %.0f s of SIGTERM and was killed\n%s"
                            % (s.name, STOP_TIMEOUT, s.output()))
        elif was_running and rc != 0:
            problems.append("%s exited with code %r on SIGTERM (expected 0)\n%s"
                            % (s.name, rc, s.output()))
    return problems


def _teardown(factory):
    """Stops the factory's servers and fails the test if one had to be killed or exited non-zero."""
    problems = _finish(factory.servers)
    for s in factory.servers:
        s.cleanup_tmp()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


class ServerFactory:
    def __init__(self, tmp_factory):
        self._tmp_factory = tmp_factory
        self.servers = []

    def __call__(self, extra_args=(), env=None, start=True):
        workdir = self._tmp_factory()
        srv = ServerProcess(workdir, extra_args=extra_args, env=env,
                            name="rstmdbd-%d" % len(self.servers))
        self.servers.append(srv)
        if start:
            srv.start()
        return srv


@pytest.fixture
def server_factory(tmp_path, request):
    """server_factory(extra_args=[...], env={...}) -> a started ServerProcess."""
    counter = [0]

    def new_dir():
        counter[0] += 1
        d = tmp_path / ("srv%d" % counter[0])
        d.mkdir()
        return d

    factory = ServerFactory(new_dir)
    request.node._rstmdb_servers = factory.servers
    yield factory
    _teardown(factory)


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory, request):
    """Like server_factory, but the servers live for the whole module."""
    factory = ServerFactory(lambda: tmp_path_factory.mktemp("srv"))
    request.module._rstmdb_servers = factory.servers
    yield factory
    _teardown(factory)


def pytest_generate_tests(metafunc):
    """A module with RUN_OVER_TLS = True runs its tests that use the module's `server` (and
    `conn`) twice: over plain TCP and over TLS (the same protocol, inside TLS)."""
    if getattr(metafunc.module, "RUN_OVER_TLS", False) and "transport" in metafunc.fixturenames:
        metafunc.parametrize("transport", ["plain", "tls"], indirect=True, scope="module")


@pytest.fixture(scope="module")
def transport(request):
    return getattr(request, "param", "plain")


@pytest.fixture(scope="module")
def server(module_server_factory, transport, tmp_path_factory):
    """A default-config server shared by the tests of one module (with TLS: see
    pytest_generate_tests)."""
    if transport == "tls":
        import tls_helpers  # imports cli_helpers, which imports this module
        pki = tls_helpers.Pki(tmp_path_factory.mktemp("pki"))
        yield tls_helpers.start_tls_server(module_server_factory, pki)
        return
    srv = module_server_factory()
    yield srv


@pytest.fixture
def conn(server):
    """A fresh RCPX connection to the module's default server."""
    c = server.connect()
    yield c
    c.close()


def run_rstmdbd(args, env=None, cwd=None, timeout=20.0):
    """Run rstmdbd to completion (for config/usage tests). Fails the test on a hang."""
    binary = binary_path()
    if not binary.exists():
        pytest.fail("rstmdbd binary not found at %s (build it, or set RSTMDBD)" % binary)
    try:
        return _spawn(lambda: subprocess.run(
            [str(binary)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(env), cwd=cwd,
            timeout=timeout))
    except subprocess.TimeoutExpired as e:
        pytest.fail("rstmdbd %r did not exit within %.0f s\nstdout:\n%s\nstderr:\n%s"
                    % (args, timeout, (e.stdout or b"").decode("utf-8", "replace"),
                       (e.stderr or b"").decode("utf-8", "replace")))


class _TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _time_limit():
    """Abort a test that runs past TEST_TIME_LIMIT (all reads have their own deadlines)."""
    def on_alarm(signum, frame):
        raise _TestTimeout("test exceeded the %d s time limit" % TEST_TIME_LIMIT)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.passed or report.skipped:
        return
    servers = list(getattr(item, "_rstmdb_servers", []))
    servers += [s for s in getattr(item.module, "_rstmdb_servers", []) if s not in servers]
    for s in servers:
        report.sections.append(("%s stdout" % s.name, _tail(s.stdout_path)))
        report.sections.append(("%s stderr" % s.name, _tail(s.stderr_path)))


# Files whose tests measure the server against the clock or the machine (latency bounds while
# other work runs, idle CPU, RSS growth and release, disk-full timing, crash/restart under write
# load). `make test` runs every other file in parallel (pytest-xdist, one file per worker) and
# these alone afterwards, so no other test shares the two cores with them.
SERIAL_FILES = frozenset({
    "test_bounded_work.py",
    "test_bounds_close.py",
    "test_bounds_fds.py",
    "test_bounds_logs.py",
    "test_bounds_memory.py",
    "test_bounds_pipeline.py",
    "test_backup_hot.py",
    "test_cli_repl.py",  # a pseudo-terminal's raw-mode switch races a loaded machine
    "test_crash.py",
    "test_disk_full.py",
    "test_health.py",
    "test_ops_durability.py",
    "test_slow_sync.py",  # a latency bound: not beside other load
    "test_watch_replay.py",  # RSS of stalled subscribers; replay under concurrent writers
})


def pytest_configure(config):
    config.addinivalue_line("markers", "serial: run alone, not beside other tests (see SERIAL_FILES)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)
