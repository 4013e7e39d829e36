"""The server image (deploy/docker/Dockerfile, runtime.md §6.2), built once by run.sh and
run here with podman: configuration, runtime libraries, uid 1000 on a volume, read-only root,
the HEALTHCHECK, a client workload, `podman stop` and a restart on the same volume, env-var
configuration with auth, and rstmdbd as PID 1."""

import hashlib
import re
import subprocess
import time

import pytest

import rcp_client as rc
from conftest import (SHUTDOWN_GRACE, children, client, inspect, proc_status, read_back,
                      run, runtime_packages, unique, wait_for_server, write_workload)

VERSION_RE = re.compile(r"^rstmdbd \d+\.\d+\.\d+ \(rstmdb-cpp; protocol 1; rocksdb [\d.]+; openssl [\d.]+\)$")


class Container:
    """One `podman run -d` of the image, removed at teardown."""

    def __init__(self, image, args=(), env=None, volume=None, entrypoint=None, read_only=True):
        self.name = unique("rstmdb-img")
        cmd = ["podman", "run", "-d", "--name", self.name, "--network", "none"]
        if read_only:
            cmd.append("--read-only")
        if volume:
            cmd += ["-v", "%s:/data" % volume]
        for k, v in (env or {}).items():
            cmd += ["-e", "%s=%s" % (k, v)]
        if entrypoint:
            cmd += ["--entrypoint", entrypoint]
        cmd += [image] + list(args)
        self.cmd = cmd

    def start(self):
        run(self.cmd)
        return self

    def pid(self):
        """Host pid of the container's PID 1 (None when not running)."""
        state = inspect("container", self.name, "{{.State.Running}} {{.State.Pid}}").split()
        return int(state[1]) if state[0] == "true" and int(state[1]) > 0 else None

    def wait_ready(self, timeout=30.0):
        return wait_for_server(self.pid, timeout, "container %s" % self.name)

    def logs(self):
        p = run(["podman", "logs", self.name], check=False)
        return p.stdout + p.stderr

    def exit_code(self):
        return int(inspect("container", self.name, "{{.State.ExitCode}}"))

    def stop(self, timeout=SHUTDOWN_GRACE + 10):
        """`podman stop` (STOPSIGNAL, then SIGKILL after `timeout`); returns the seconds it took."""
        start = time.monotonic()
        run(["podman", "stop", "-t", str(timeout), self.name], timeout=timeout + 30)
        return time.monotonic() - start

    def remove(self):
        subprocess.run(["podman", "rm", "-f", "-v", "-t", "0", self.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)


@pytest.fixture
def containers(image):
    made = []

    def start(**kw):
        c = Container(image, **kw)
        made.append(c)  # removed at teardown even if it fails to start
        return c.start()

    yield start
    for c in made:
        c.remove()


@pytest.fixture
def volume():
    name = unique("rstmdb-vol")
    run(["podman", "volume", "create", name])
    yield name
    subprocess.run(["podman", "volume", "rm", "-f", name], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60)


def sh(image, script, user=None):
    """Run a shell script in a throwaway container of the image."""
    cmd = ["podman", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh"]
    if user:
        cmd += ["--user", user]
    return run(cmd + [image, "-c", script]).stdout


# ======================================================================================
# The image as built

def test_image_configuration(image):
    info = inspect("image", image)
    cfg = info["Config"]
    assert cfg["User"] == "1000:1000"
    assert cfg["Entrypoint"] == ["/usr/bin/tini", "--", "rstmdbd"]
    assert not cfg.get("Cmd")
    assert set(cfg["ExposedPorts"]) == {"7401/tcp", "9090/tcp"}
    assert set(cfg["Volumes"]) == {"/data"}
    assert cfg["StopSignal"] == "SIGTERM"
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["RSTMDB_BIND"] == "0.0.0.0:7401"
    assert env["RSTMDB_DATA"] == "/data"
    assert env["RSTMDB_METRICS_BIND"] == "0.0.0.0:9090"
    # Docker format keeps HEALTHCHECK (OCI drops it).
    hc = info.get("Healthcheck")
    assert hc, "no HEALTHCHECK in the image (built without --format docker?)"
    assert hc["Test"] == ["CMD", "rstmdb-cli", "-s", "127.0.0.1:7401", "ping"]
    assert (hc["Interval"], hc["Timeout"], hc["StartPeriod"]) == (10 * 10**9, 5 * 10**9, 30 * 10**9)


def test_image_contents(image):
    out = sh(image, "id -u; id -g; stat -c '%u:%g %a' /data; readlink /usr/local/bin/rstmdb; "
                    "command -v grep; ls /usr/local/bin | tr '\\n' ' '")
    uid, gid, data, link, grep, binaries = out.splitlines()
    assert (uid, gid) == ("1000", "1000")
    assert data == "1000:1000 700"
    assert link == "rstmdbd"
    assert grep  # Testcontainers probes the port with /bin/sh and grep
    names = set(binaries.split())
    assert {"rstmdbd", "rstmdb", "rstmdb-bench", "rstmdb-cli"} <= names, names
    # No compilers or headers in the runtime stage.
    assert sh(image, "ls /usr/include 2>/dev/null | wc -l; command -v c++ cmake || true").split()[0] == "0"


def test_entrypoint_passes_arguments_to_rstmdbd(image):
    out = run(["podman", "run", "--rm", "--network", "none", image, "--version"]).stdout.strip()
    assert VERSION_RE.match(out), out
    # The upstream name is the same binary.
    out = run(["podman", "run", "--rm", "--network", "none", "--entrypoint", "rstmdb", image,
               "--version"]).stdout.strip()
    assert VERSION_RE.match(out), out
    p = run(["podman", "run", "--rm", "--network", "none", image, "check-config"])
    assert "configuration OK" in p.stdout


def test_runtime_libraries_come_from_the_runtime_package_list(image, tmp_path):
    """Every library the binaries load belongs to a package of the runtime stage's apt list
    (or its dependencies) or of the base image, and every library package on that list is
    needed by some binary."""
    listed = runtime_packages()
    script = r"""
set -e
for f in /usr/local/bin/*; do
  ldd "$f" | sed "s#^#$f #"
done
echo ---
dpkg-query -W -f '${Package}\t${Pre-Depends}, ${Depends}\t${Provides}\n'
"""
    out = sh(image, script)
    ldd_text, _, dpkg_text = out.partition("---\n")
    assert "not found" not in ldd_text, ldd_text
    libs = {}  # path -> binaries
    for line in ldd_text.splitlines():
        m = re.match(r"^(\S+)\s+.*=>\s+(/\S+)\s+\(0x", line) or re.match(r"^(\S+)\s+(/\S+)\s+\(0x", line)
        if m:
            libs.setdefault(m.group(2), set()).add(m.group(1))
    assert libs, ldd_text

    installed, depends, provides = set(), {}, {}
    for line in dpkg_text.splitlines():
        pkg, deps, prov = (line.split("\t") + ["", ""])[:3]
        installed.add(pkg)
        names = []
        for alt in re.split(r"[,|]", deps):
            alt = re.sub(r"\(.*?\)|:any|\[.*?\]", "", alt).strip()
            if alt:
                names.append(alt)
        depends[pkg] = names
        for p in prov.split(","):
            p = re.sub(r"\(.*?\)", "", p).strip()
            if p:
                provides.setdefault(p, set()).add(pkg)
    missing = [p for p in listed if p not in installed]
    assert not missing, "runtime packages not installed in the image: %s" % missing

    closure, todo = set(), list(listed)
    while todo:
        p = todo.pop()
        for real in ({p} if p in installed else provides.get(p, set())):
            if real not in closure:
                closure.add(real)
                todo.extend(depends.get(real, []))

    base = set(sh("docker.io/library/debian:bookworm-slim",
                  "dpkg-query -W -f '${Package}\\n'").split())
    owners = sh(image, "for l in %s; do dpkg -S \"$l\" 2>/dev/null || dpkg -S \"/usr$l\" "
                       "|| echo \"NONE: $l\"; done" % " ".join(sorted(libs)))
    owner_of = {}
    for line in owners.splitlines():
        assert not line.startswith("NONE"), "a library no package owns: " + line
        pkg, _, path = line.partition(": ")
        owner_of[path.removeprefix("/usr")] = pkg.split(":")[0]
    for lib in libs:
        pkg = owner_of.get(lib.removeprefix("/usr"))
        assert pkg, "no owner found for %s" % lib
        assert pkg in closure or pkg in base, \
            "%s (needed by %s) comes from %s, which is neither in the runtime list's closure " \
            "nor in the base image" % (lib, sorted(libs[lib]), pkg)
    # Library packages on the list must be used by some binary (no dead weight).
    used = set(owner_of.values())
    for p in listed:
        if p.startswith("lib") or p == "zlib1g":
            assert p in used, "runtime package %s provides no library that a binary loads" % p


# ======================================================================================
# Running it

def assert_runs_as_1000(pid):
    status = proc_status(pid)
    assert status["Uid"].split()[0] == "1000", status["Uid"]
    assert status["Gid"].split()[0] == "1000", status["Gid"]


def test_workload_stop_and_restart_on_the_same_volume(containers, volume):
    first = containers(volume=volume)
    pid1 = first.wait_ready()
    # tini is PID 1 and rstmdbd its only child, both uid 1000.
    assert proc_status(pid1)["Name"] == "tini"
    kids = children(pid1)
    assert len(kids) == 1 and proc_status(kids[0])["Name"] == "rstmdbd", kids
    assert_runs_as_1000(pid1)
    assert_runs_as_1000(kids[0])
    with client(pid1) as c:
        expected, latest = write_workload(c, instances=60)
        open_conn = client(pid1)  # still connected when the stop begins
        open_conn.ping()
    took = first.stop()
    open_conn.expect_closed(2)
    open_conn.close()
    assert first.exit_code() == 0, first.logs()
    assert took < SHUTDOWN_GRACE + 2, "podman stop took %.1f s" % took
    logs = first.logs()
    assert "received SIGTERM" in logs, logs
    assert "Server stopped" in logs, logs

    # A new container on the same volume has everything.
    second = containers(volume=volume)
    pid2 = second.wait_ready()
    with client(pid2) as c:
        read_back(c, expected, latest)
    assert "latest offset %d" % latest in second.logs()
    assert second.stop() < SHUTDOWN_GRACE + 2
    assert second.exit_code() == 0, second.logs()


def test_healthcheck(image, containers, volume):
    c = containers(volume=volume)
    c.wait_ready()
    test = inspect("image", image)["Healthcheck"]["Test"]
    assert test[0] == "CMD"
    direct = run(["podman", "exec", c.name] + test[1:], check=False)
    assert direct.returncode == 0, "%s %s\n%s" % (direct.stdout, direct.stderr, c.logs())
    assert direct.stdout.strip() == "PONG"
    p = run(["podman", "healthcheck", "run", c.name], check=False)
    assert p.returncode == 0, "healthcheck failed: %s %s\n%s" % (p.stdout, p.stderr, c.logs())
    assert inspect("container", c.name, "{{.State.Health.Status}}") == "healthy"


TOKEN = "deploy-test-token-0123456789abcdef0123456789abcdef"


def test_environment_configuration_with_auth(containers, volume):
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    c = containers(volume=volume, env={"RSTMDB_AUTH_REQUIRED": "true", "RSTMDB_AUTH_TOKEN_HASH": digest,
                                       "RSTMDB_SHUTDOWN_GRACE": "3"})
    pid = c.wait_ready()  # PING needs no token
    assert "auth: required, 1 token hash(es)" in c.logs()
    with client(pid) as anon:
        rc.assert_ok(anon.hello())
        rc.assert_error(anon.request("LIST_MACHINES"), "UNAUTHORIZED")
        rc.assert_error(anon.auth("wrong-token"), "AUTH_FAILED")
    with client(pid) as authed:
        rc.assert_ok(authed.hello())
        rc.assert_ok(authed.auth(TOKEN))
        expected, latest = write_workload(authed, instances=5, prefix="auth")
        read_back(authed, expected, latest)
    assert TOKEN not in c.logs()
    took = c.stop()
    assert c.exit_code() == 0
    assert took < 3 + 2


def test_bad_environment_refuses_to_start(image):
    p = run(["podman", "run", "--rm", "--network", "none", "-e", "RSTMDB_MAX_CONNECTIONS=0", image],
            check=False)
    assert p.returncode == 78, (p.returncode, p.stdout, p.stderr)
    assert "network.max_connections (env RSTMDB_MAX_CONNECTIONS)" in p.stderr, p.stderr


def test_rstmdbd_as_pid1_stops_cleanly(containers, volume):
    c = containers(volume=volume, entrypoint="rstmdbd")
    pid = c.wait_ready()
    assert proc_status(pid)["Name"] == "rstmdbd"
    assert_runs_as_1000(pid)
    with client(pid) as conn:
        expected, latest = write_workload(conn, instances=20, prefix="pid1")
    took = c.stop()
    assert c.exit_code() == 0, c.logs()
    assert took < SHUTDOWN_GRACE + 2, "podman stop took %.1f s" % took
    assert "Server stopped" in c.logs()
    again = containers(volume=volume, entrypoint="rstmdbd")
    with client(again.wait_ready()) as conn:
        read_back(conn, expected, latest)
