"""Shared helpers of the deployment tests (tests/deploy, run by tests/deploy/run.sh).

run.sh builds the images and passes their names in RSTMDB_IMAGE (deploy/docker/Dockerfile)
and RSTMDB_SYSTEMD_IMAGE (tests/deploy/systemd.Containerfile). A test that needs one of them
fails when it is missing: a broken artefact never turns into a skip.

Containers run with `--network none`: each has its own loopback, so the image's defaults
(0.0.0.0:7401, the HEALTHCHECK's 127.0.0.1:7401) are tested as shipped and nothing binds a
port on the host. The test's client reaches a container by creating its socket inside the
container's network namespace (setns(2) on this thread, then back).
"""

import ctypes
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))

import rcp_client as rc  # noqa: E402

DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "Dockerfile"
UNIT = REPO_ROOT / "deploy" / "systemd" / "rstmdb.service"
SYSUSERS = REPO_ROOT / "deploy" / "systemd" / "rstmdb.sysusers"
TMPFILES = REPO_ROOT / "deploy" / "systemd" / "rstmdb.tmpfiles"
INSTALL_SH = REPO_ROOT / "deploy" / "install.sh"
RCP_PORT = 7401
SHUTDOWN_GRACE = 5  # network.shutdown_grace_secs default
# Safety net: no deployment test may run longer than this (seconds).
TEST_TIME_LIMIT = 240

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def build_dir():
    return Path(os.environ.get("BUILD_DIR") or REPO_ROOT / "build").resolve()


def run(args, check=True, timeout=120, **kw):
    """Run a command; on failure, fail the test with its output."""
    try:
        p = subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%r did not finish within %d s\nstdout:\n%s\nstderr:\n%s"
                    % (args, timeout, _text(e.stdout), _text(e.stderr)))
    out, err = _text(p.stdout), _text(p.stderr)
    if check and p.returncode != 0:
        pytest.fail("%r exited %d\nstdout:\n%s\nstderr:\n%s" % (args, p.returncode, out, err))
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _text(b):
    return (b or b"").decode("utf-8", "replace") if isinstance(b, (bytes, type(None))) else b


def image_from_env(var):
    name = os.environ.get(var)
    if not name:
        pytest.fail("%s is not set: run tests/deploy/run.sh, which builds the images" % var)
    if run(["podman", "image", "exists", name], check=False).returncode != 0:
        pytest.fail("image %s (%s) does not exist: run tests/deploy/run.sh" % (name, var))
    return name


@pytest.fixture(scope="session")
def image():
    return image_from_env("RSTMDB_IMAGE")


@pytest.fixture(scope="session")
def systemd_image():
    return image_from_env("RSTMDB_SYSTEMD_IMAGE")


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


# --------------------------------------------------------------------------------------
# Reaching a container's loopback.

def connect_in_netns(pid, port=RCP_PORT, host="127.0.0.1", timeout=rc.DEFAULT_TIMEOUT):
    """A TCP socket connected from inside the network namespace of process `pid`."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/proc/%d/ns/net" % pid, os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns(%d): %s" % (pid, os.strerror(err)))
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.settimeout(timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.connect((host, port))
            except BaseException:
                s.close()
                raise
            return s
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:  # never leave this thread elsewhere
                os._exit(70)
    finally:
        os.close(own)
        os.close(target)


def client(pid, port=RCP_PORT):
    """An rcp_client.Connection into the container whose (host) pid is `pid`."""
    c = rc.Connection("127.0.0.1", port, connect=False)
    c.sock = connect_in_netns(pid, port)
    return c


def wait_for_server(pid_of, timeout=30.0, what="rstmdbd"):
    """Retry connect+PING until it answers; `pid_of()` gives the namespace's pid (or None
    while not running). Returns the pid."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        pid = pid_of()
        if pid:
            try:
                with client(pid) as c:
                    c.ping()
                return pid
            except (OSError, rc.ProtocolError) as e:
                last = e
        time.sleep(0.2)
    pytest.fail("%s did not answer PING within %.0f s (last error: %r)" % (what, timeout, last))


# --------------------------------------------------------------------------------------
# A small workload and its read-back, shared by the image and systemd tests.

TICK_DEF = {"states": ["open", "done"], "initial": "open",
            "transitions": [{"from": "open", "event": "FINISH", "to": "done"}]}


def write_workload(c, instances=50, prefix="w"):
    """Machine + `instances` instances, every other one moved to `done`, pipelined.
    Returns {instance_id: state} and the latest offset."""
    rc.assert_ok(c.request("PUT_MACHINE", {"machine": "deploy", "version": 1, "definition": TICK_DEF}))
    expected = {}
    ids = ["%s-%03d" % (prefix, i) for i in range(instances)]
    for iid in ids:
        c.send(rc.make_request("CREATE_INSTANCE", {"instance_id": iid, "machine": "deploy",
                                                   "version": 1}, id="c-" + iid))
    for iid in ids:
        rc.assert_ok(c.recv_response(), id="c-" + iid)
        expected[iid] = "open"
    for iid in ids[::2]:
        c.send(rc.make_request("APPLY_EVENT", {"instance_id": iid, "event": "FINISH"}, id="a-" + iid))
    for iid in ids[::2]:
        assert rc.assert_ok(c.recv_response(), id="a-" + iid)["to_state"] == "done"
        expected[iid] = "done"
    stats = rc.assert_ok(c.request("WAL_STATS"))
    assert stats["latest_offset"] == 1 + instances + len(ids[::2]), stats
    return expected, stats["latest_offset"]


def read_back(c, expected, latest_offset):
    """Every instance of the workload is there in its state; the log is unchanged."""
    for iid, state in expected.items():
        got = rc.assert_ok(c.request("GET_INSTANCE", {"instance_id": iid}))
        assert got["state"] == state, (iid, got)
    assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] == latest_offset


# --------------------------------------------------------------------------------------

def proc_status(pid):
    """/proc/PID/status as a dict."""
    out = {}
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def children(pid):
    return [int(x) for x in Path("/proc/%d/task/%d/children" % (pid, pid)).read_text().split()]


def inspect(kind, name, fmt=None):
    if fmt:
        return run(["podman", kind, "inspect", "--format", fmt, name]).stdout.strip()
    return json.loads(run(["podman", kind, "inspect", name]).stdout)[0]


def runtime_packages():
    """The package list of the runtime stage's `apt-get install` in the Dockerfile."""
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)
    runtime = stages[-1]
    m = re.search(r"apt-get install -y --no-install-recommends(.*?)&&", runtime, re.S)
    assert m, "no apt-get install in the Dockerfile's runtime stage"
    return m.group(1).replace("\\\n", " ").split()


@pytest.fixture(autouse=True)
def _time_limit():
    import signal

    def on_alarm(signum, frame):
        raise TimeoutError("deployment test exceeded %d s" % TEST_TIME_LIMIT)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIME_LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
