"""The systemd unit under a real systemd (runtime.md §6.1, §6.4): a container whose PID 1
is systemd 252, installed into by deploy/install.sh exactly as an operator would, from this
tree's build directory. One machine for the module; the tests run in file order."""

import hashlib
import json
import re
import subprocess
import threading
import time

import pytest

import rcp_client as rc
from conftest import (REPO_ROOT, build_dir, client, inspect, proc_status, read_back, run, unique,
                      wait_for_server, write_workload)
from load_helpers import Load, all_instances, expected_from_log, read_log, setup_machine

SERVICE = "rstmdb.service"


class Machine:
    """A container running systemd as PID 1, with the repository mounted at its own path
    (overlay: writes such as cmake's install_manifest.txt stay in the container)."""

    def __init__(self, image):
        self.name = unique("rstmdb-systemd")
        mounts = [REPO_ROOT] + ([] if build_dir().is_relative_to(REPO_ROOT) else [build_dir()])
        volumes = [arg for m in mounts for arg in ("-v", "%s:%s:O" % (m, m))]
        # --privileged: systemd sets up the unit's sandbox (namespaces, seccomp) as on a host.
        try:
            run(["podman", "run", "-d", "--name", self.name, "--systemd=always", "--network", "none",
                 "--privileged"] + volumes + [image])
            self._wait_for_boot()
        except BaseException:
            self.remove()
            raise

    def _wait_for_boot(self):
        deadline = time.monotonic() + 60
        while True:
            p = self.sh("systemctl is-system-running", check=False)
            state = p.stdout.strip()
            if state in ("running", "degraded"):
                break
            if time.monotonic() > deadline:
                pytest.fail("systemd in %s did not finish booting: %r\n%s"
                            % (self.name, state, self.sh("systemctl --failed; journalctl -b --no-pager | tail -50",
                                                         check=False).stdout))
            time.sleep(0.3)
        self.boot_state = state

    def sh(self, script, check=True, timeout=120):
        return run(["podman", "exec", "-w", str(REPO_ROOT), self.name, "bash", "-c", script],
                   check=check, timeout=timeout)

    def show(self, *props):
        out = self.sh("systemctl show %s -p %s" % (SERVICE, ",".join(props))).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def host_pid(self, container_pid):
        """The host pid of a process of this container (for /proc and its namespace)."""
        out = run(["podman", "top", self.name, "pid", "hpid"]).stdout.split("\n")[1:]
        for line in out:
            parts = line.split()
            if len(parts) == 2 and parts[0] == str(container_pid):
                return int(parts[1])
        pytest.fail("pid %s not found in %s: %r" % (container_pid, self.name, out))

    def init_pid(self):
        return int(inspect("container", self.name, "{{.State.Pid}}"))

    def main_pid(self):
        pid = int(self.show("MainPID")["MainPID"])
        return self.host_pid(pid) if pid else None

    def journal(self):
        return self.sh("journalctl -u %s --no-pager -o cat" % SERVICE).stdout

    def remove(self):
        subprocess.run(["podman", "rm", "-f", "-v", "-t", "0", self.name], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)


def nofile(pid):
    """(soft, hard) RLIMIT_NOFILE of a host pid."""
    m = re.search(r"^Max open files\s+(\d+)\s+(\d+)", open("/proc/%d/limits" % pid).read(), re.M)
    return int(m.group(1)), int(m.group(2))


@pytest.fixture(scope="module")
def machine(systemd_image):
    m = Machine(systemd_image)
    yield m
    m.remove()


@pytest.fixture(scope="module")
def workload_state():
    return {}


def test_install_script(machine):
    build = build_dir()
    assert (build / "server" / "rstmdbd").exists(), "build the tree first (make build)"
    p = machine.sh("bash deploy/install.sh --build-dir %s --no-start" % build)
    assert "wrote /etc/rstmdb/config.yaml" in p.stdout, p.stdout
    st = machine.sh("getent passwd rstmdb; stat -c '%n %U:%G %a' /etc/rstmdb /etc/rstmdb/config.yaml "
                    "/var/lib/rstmdb /var/backups/rstmdb /usr/local/lib/systemd/system/rstmdb.service "
                    "/usr/local/bin/rstmdbd").stdout.splitlines()
    user = st[0].split(":")
    assert user[0] == "rstmdb" and user[5] == "/var/lib/rstmdb" and user[6] == "/usr/sbin/nologin", st[0]
    assert int(user[2]) < 1000, "not a system uid: %s" % st[0]
    modes = {line.split()[0]: tuple(line.split()[1:]) for line in st[1:]}
    assert modes["/etc/rstmdb"] == ("root:rstmdb", "750")
    assert modes["/etc/rstmdb/config.yaml"] == ("root:rstmdb", "640")
    assert modes["/var/lib/rstmdb"] == ("rstmdb:rstmdb", "700")
    assert modes["/var/backups/rstmdb"] == ("rstmdb:rstmdb", "700")
    assert modes["/usr/local/bin/rstmdbd"] == ("root:root", "755")
    unit = machine.sh("systemctl cat %s" % SERVICE).stdout
    assert "ExecStart=/usr/local/bin/rstmdbd --config /etc/rstmdb/config.yaml" in unit
    config = machine.sh("cat /etc/rstmdb/config.yaml").stdout
    assert re.search(r'^  data_dir: "/var/lib/rstmdb"$', config, re.M), config
    assert machine.show("ActiveState")["ActiveState"] == "inactive"  # --no-start

    # Running it again upgrades in place and keeps the operator's config.
    machine.sh("echo '# operator edit' >> /etc/rstmdb/config.yaml")
    p = machine.sh("bash deploy/install.sh --build-dir %s --no-start" % build)
    assert "keeping existing /etc/rstmdb/config.yaml" in p.stdout, p.stdout
    assert machine.sh("tail -1 /etc/rstmdb/config.yaml").stdout.strip() == "# operator edit"


def test_start_returns_after_ready(machine, workload_state):
    start = time.monotonic()
    machine.sh("systemctl enable --now %s" % SERVICE)
    took = time.monotonic() - start
    # Type=notify: start returned only once READY=1 arrived, whose STATUS= this is.
    props = machine.show("ActiveState", "SubState", "StatusText", "Result", "NRestarts")
    assert props["ActiveState"] == "active" and props["SubState"] == "running", props
    assert props["StatusText"] == "ready; 0 conns; offset 0", props
    assert machine.sh("systemctl is-enabled %s" % SERVICE).stdout.strip() == "enabled"
    # So the listener accepts right now: one attempt, no retries.
    pid = machine.main_pid()
    with client(pid) as c:
        c.ping()
        expected, latest = write_workload(c, instances=40, prefix="sd")
    workload_state.update(expected=expected, latest=latest)
    status = proc_status(pid)
    uid = machine.sh("id -u rstmdb").stdout.strip()
    assert status["Uid"].split()[0] == uid, status["Uid"]
    assert status["NoNewPrivs"] == "1"
    assert status["CapEff"] == "0000000000000000"
    assert int(status["Seccomp"]) == 2, "SystemCallFilter= not applied"
    # LimitNOFILE=65536, clamped by systemd to the machine's hard limit (this VM kind caps
    # it at 20000 and podman cannot raise it).
    assert machine.show("LimitNOFILE")["LimitNOFILE"] == "65536"
    machine_hard = nofile(machine.init_pid())[1]
    want = min(65536, machine_hard)
    assert nofile(pid) == (want, want)
    journal = machine.journal()
    for line in ("rstmdbd 0.1.0 starting (rstmdb-cpp, protocol 1, pid ",
                 "config: file=/etc/rstmdb/config.yaml bind=127.0.0.1:7401 data_dir=/var/lib/rstmdb",
                 "Server listening on 127.0.0.1:7401 (plain)", "ready in "):
        assert line in journal, "journal lacks %r:\n%s" % (line, journal)
    assert "configuration OK" in journal  # ExecStartPre=check-config
    assert took < 30


def test_kill_9_is_restarted(machine, workload_state):
    old = machine.show("MainPID", "NRestarts")
    machine.sh("kill -9 %s" % old["MainPID"])
    deadline = time.monotonic() + 30
    while True:
        now = machine.show("MainPID", "NRestarts", "ActiveState", "SubState")
        if now["NRestarts"] == "1" and now["SubState"] == "running" and now["MainPID"] not in ("0", old["MainPID"]):
            break
        if time.monotonic() > deadline:
            pytest.fail("not restarted after kill -9: %r\n%s" % (now, machine.journal()))
        time.sleep(0.2)
    # Nothing acknowledged before the kill is lost.
    pid = wait_for_server(machine.main_pid, 10)
    with client(pid) as c:
        read_back(c, workload_state["expected"], workload_state["latest"])


def test_stop_is_clean(machine, workload_state):
    with client(machine.main_pid()) as idle:
        idle.ping()
        start = time.monotonic()
        machine.sh("systemctl stop %s" % SERVICE)
        took = time.monotonic() - start
        idle.expect_closed(2)
    props = machine.show("ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    assert props["ActiveState"] == "inactive", props
    assert props["Result"] == "success" and props["ExecMainStatus"] == "0", props
    journal = machine.journal()
    assert "received SIGTERM" in journal and "Server stopped" in journal, journal
    assert took < 5 + 2
    # And it comes back with the data.
    machine.sh("systemctl start %s" % SERVICE)
    with client(machine.main_pid()) as c:
        read_back(c, workload_state["expected"], workload_state["latest"])


def test_bad_config_fails_the_start(machine):
    """ExecStartPre=check-config exits 78 and the unit ends up failed, not flapping.
    RestartPreventExitStatus= only looks at the main process, so systemd retries a failed
    ExecStartPre until the start limit (StartLimitBurst=5 in StartLimitIntervalSec=10s) stops it."""
    machine.sh("cp /etc/rstmdb/config.yaml /root/config.good && "
               "sed -i 's/^  max_connections: .*/  max_connections: 0/' /etc/rstmdb/config.yaml")
    try:
        p = machine.sh("systemctl restart %s" % SERVICE, check=False)
        assert p.returncode != 0
        # While systemd retries, the unit is "activating" (auto-restart); "failed" means it gave
        # up. How many retries that takes depends on how fast they run (the limit is 5 starts
        # within 10 s), so the count is not asserted; that it stays given up is.
        deadline = time.monotonic() + 30
        while machine.show("ActiveState")["ActiveState"] != "failed":
            assert time.monotonic() < deadline, machine.show("ActiveState", "SubState", "NRestarts")
            time.sleep(0.2)
        props = machine.show("ActiveState", "Result", "NRestarts")
        time.sleep(1.0)  # RestartSec= is 100 ms: a unit still flapping would have moved on
        assert machine.show("ActiveState", "Result", "NRestarts") == props, props
        assert props["ActiveState"] == "failed", props
        journal = machine.journal()
        assert "network.max_connections (file:/etc/rstmdb/config.yaml:" in journal, journal
        assert "status=78/CONFIG" in journal, journal
    finally:
        machine.sh("cp /root/config.good /etc/rstmdb/config.yaml && systemctl reset-failed %s && "
                   "systemctl start %s" % (SERVICE, SERVICE))
    assert machine.show("ActiveState")["ActiveState"] == "active"


class MachineEndpoint:
    """The load helpers' notion of a server: the service's current main process."""

    def __init__(self, machine):
        self.machine = machine

    def connect(self, timeout=30):
        return client(self.machine.main_pid())


def test_backup_under_load_and_restore_as_documented(machine):
    """docs/backup.md's systemd procedure: a hot backup as the service user while writers run,
    then `systemctl stop`, restore, `systemctl start`; the service comes back with exactly the
    backed-up history (every log record, every instance), and restore refuses a running server."""
    tool = "runuser -u rstmdb -- rstmdbd"
    config = "--config /etc/rstmdb/config.yaml"
    pid = machine.main_pid()
    with client(pid) as c:
        ids = setup_machine(c, 120, prefix="bk")
    load = Load(MachineEndpoint(machine), ids[:100], writers=4)
    try:
        load.wait_for_acks(600)
        p = machine.sh("%s backup %s --to /var/backups/rstmdb --keep 3" % (tool, config))
        load.wait_for_acks(sum(len(w.acked) for w in load.writers) + 200)
    finally:
        load.finish()
    path = re.match(r"backup written: (/var/backups/rstmdb/rstmdb-\S+) \(offset (\d+),", p.stdout)
    assert path, p.stdout
    backup, latest = path.group(1), int(path.group(2))
    manifest = json.loads(machine.sh("cat %s/MANIFEST.json" % backup).stdout)
    assert manifest["latest_offset"] == latest and manifest["source"]["data_dir"] == "/var/lib/rstmdb"
    owner = machine.sh("stat -c %%U %s %s/db" % (backup, backup)).stdout.split()
    assert owner == ["rstmdb", "rstmdb"]
    status = json.loads(machine.sh("%s status %s" % (tool, config)).stdout)
    assert status["state"] == "ready" and status["last_backup"]["latest_offset"] == latest
    machine.sh("%s verify-backup %s" % (tool, backup))
    for offsets in load.batches():
        assert all(o <= latest for o in offsets) or all(o > latest for o in offsets), offsets
    with client(machine.main_pid()) as c:
        assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] > latest
        source_log = read_log(c, up_to=latest)

    refused = machine.sh("%s restore %s --from %s --force" % (tool, config, backup), check=False)
    assert refused.returncode == 75, refused.stderr

    machine.sh("systemctl stop %s && %s restore %s --from %s --force && systemctl start %s"
               % (SERVICE, tool, config, backup, SERVICE))
    assert machine.show("ActiveState")["ActiveState"] == "active"
    with client(machine.main_pid()) as c:
        assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] == latest
        assert read_log(c) == source_log
        got = all_instances(c)
    expected = expected_from_log(source_log)
    assert set(got) == set(expected)
    for iid, (state, offset, ctx) in expected.items():
        assert (got[iid]["state"], got[iid]["last_wal_offset"], got[iid]["ctx"]) == (state, offset, ctx), iid
    # /var/lib is not the service user's to write: restored in place, old data kept beside.
    previous = machine.sh("ls -d /var/lib/rstmdb/.pre-restore-*").stdout.split()
    assert len(previous) == 1
    assert machine.sh("stat -c %U /var/lib/rstmdb/db /var/lib/rstmdb/FORMAT").stdout.split() == ["rstmdb"] * 2


TOKEN_A = "rotation-token-a-0123456789abcdef0123456789abcdef"
TOKEN_B = "rotation-token-b-0123456789abcdef0123456789abcdef"
SECRETS = "/etc/rstmdb/tokens.secret"
# Pipelined writes the revoked session sends at most (it is cut off long before).
MAX_STREAM = 20000


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def admin_status(machine):
    """`rstmdbd status` by data directory: with --config it would load (and refuse) a broken
    secrets file, which is what the rejected-reload test leaves behind."""
    return json.loads(machine.sh("runuser -u rstmdb -- rstmdbd status --data-dir /var/lib/rstmdb").stdout)


def wait_for_reloads(machine, wanted, timeout=20):
    """`systemctl reload` (ExecReload=kill -HUP) returns once the signal is sent; the server
    reloads on its blocking pool and counts the outcome in `rstmdbd status`."""
    deadline = time.monotonic() + timeout
    while True:
        st = admin_status(machine)
        if st["reloads"] == wanted:
            return st
        if time.monotonic() > deadline:
            pytest.fail("reloads %r, wanted %r\n%s" % (st["reloads"], wanted, machine.journal()))
        time.sleep(0.2)


def authed(machine, token):
    c = client(machine.main_pid())
    rc.assert_ok(c.hello())
    rc.assert_ok(c.auth(token))
    return c


def test_reload_rotates_a_token(machine):
    """runtime.md §3.1 rotation with the unit: auth on with a secrets file (root:rstmdb 0640),
    a session on token A with writes in flight, A replaced by B in the file, `systemctl reload`.
    The reload is applied without a restart (same MainPID, still active); B works, A is
    refused, and the A session gets the replies due, in order, and is then closed."""
    machine.sh("printf '%%s svc-a\\n' %s > %s && chown root:rstmdb %s && chmod 0640 %s"
               % (sha(TOKEN_A), SECRETS, SECRETS, SECRETS))
    machine.sh("sed -i 's/^#auth:$/auth:/; s/^#  required: true$/  required: true/; "
               "s|^#  secrets_file: /etc/rstmdb/tokens.secret$|  secrets_file: %s|' /etc/rstmdb/config.yaml"
               % SECRETS)
    config = machine.sh("cat /etc/rstmdb/config.yaml").stdout
    assert re.search(r"^auth:\n(#.*\n)*  required: true\n(#.*\n)*  secrets_file: /etc/rstmdb/tokens\.secret$",
                     config, re.M), config
    machine.sh("systemctl restart %s" % SERVICE)
    assert "auth: required, 1 token hash(es)" in machine.journal()
    before = machine.show("MainPID", "NRestarts")
    reloads = admin_status(machine)["reloads"]

    with client(machine.main_pid()) as anon:
        rc.assert_ok(anon.hello())
        rc.assert_error(anon.request("LIST_MACHINES"), "UNAUTHORIZED")
    old = authed(machine, TOKEN_A)
    rc.assert_ok(old.request("PUT_MACHINE", {"machine": "rot", "version": 1, "definition": {
        "states": ["a", "b"], "initial": "a",
        "transitions": [{"from": "a", "event": "GO", "to": "b"}, {"from": "b", "event": "BACK", "to": "a"}]}}))
    rc.assert_ok(old.request("CREATE_INSTANCE", {"machine": "rot", "version": 1, "instance_id": "rot-1"}))

    # A keeps a stream of pipelined writes in flight while the token is rotated.
    ids, answered, stop = [], [], threading.Event()

    def send_stream():
        for n in range(MAX_STREAM):
            if stop.is_set():
                return
            rid = "w%d" % n
            frame = rc.encode(rc.make_request("APPLY_EVENT", {"instance_id": "rot-1",
                                                              "event": "GO" if n % 2 == 0 else "BACK"}, id=rid))
            ids.append(rid)
            try:
                old.sock.sendall(frame)
            except OSError:  # closed by the server: what it had not read is not served
                return

    sender = threading.Thread(target=send_stream, daemon=True)
    sender.start()
    try:
        while len(answered) < 50:
            msg = old.recv_response()
            rc.assert_ok(msg)
            answered.append(msg["id"])
        machine.sh("printf '%%s svc-b\\n' %s > %s" % (sha(TOKEN_B), SECRETS))
        machine.sh("systemctl reload %s" % SERVICE)
        st = wait_for_reloads(machine, dict(reloads, applied=reloads["applied"] + 1))
        old.read_ok_replies_until_close(answered)
    finally:
        stop.set()
        sender.join(10)
        old.close()
    assert answered == ids[:len(answered)], "replies out of order or missing"
    assert len(answered) < len(ids), "the stream ended before the revocation; nothing was in flight"

    assert st["last_reload"]["result"] == "applied" and st["last_reload"]["trigger"] == "received SIGHUP", st
    journal = machine.journal()
    assert "reload applied: " in journal, journal
    assert "token of principal svc-a removed by a reload; closing after the replies due" in journal, journal
    assert TOKEN_A not in journal and TOKEN_B not in journal

    with authed(machine, TOKEN_B) as c:
        inst = rc.assert_ok(c.request("GET_INSTANCE", {"instance_id": "rot-1"}))
        # Exactly the answered writes were applied.
        assert inst["state"] == ("b" if len(answered) % 2 else "a"), (inst, len(answered))
    with client(machine.main_pid()) as c:
        rc.assert_ok(c.hello())
        rc.assert_error(c.auth(TOKEN_A), "AUTH_FAILED")

    # No restart: the same process, still active, the restart counter unchanged.
    assert machine.sh("systemctl is-active %s" % SERVICE).stdout.strip() == "active"
    assert machine.show("MainPID", "NRestarts") == before
    assert machine.show("StatusText")["StatusText"].startswith("ready"), machine.show("StatusText")


def test_rejected_reload_keeps_the_running_tokens(machine):
    """A malformed secrets file: the reload is rejected with the file's line named, the
    service keeps running with the tokens it had (B still works), nothing restarts."""
    before = machine.show("MainPID", "NRestarts")
    reloads = admin_status(machine)["reloads"]
    live = authed(machine, TOKEN_B)
    try:
        machine.sh("printf '%%s svc-b\\nnot-a-hash\\n' %s > %s" % (sha(TOKEN_B), SECRETS))
        machine.sh("systemctl reload %s" % SERVICE)
        st = wait_for_reloads(machine, dict(reloads, rejected=reloads["rejected"] + 1))
        assert st["last_reload"]["result"] == "rejected", st
        journal = machine.journal()
        assert "reload rejected: auth.secrets_file" in journal and "keeping previous configuration" in journal, \
            journal
        live.ping()
        rc.assert_ok(live.request("GET_INSTANCE", {"instance_id": "rot-1"}))
    finally:
        live.close()
    with authed(machine, TOKEN_B) as c:
        rc.assert_ok(c.request("GET_INSTANCE", {"instance_id": "rot-1"}))
    assert machine.sh("systemctl is-active %s" % SERVICE).stdout.strip() == "active"
    assert machine.show("MainPID", "NRestarts") == before
    # The synchronous way (deploy/README.md): `rstmdbd reload` validates the files itself
    # first, so the bad file is refused with 78 before the server is asked ...
    tool = "runuser -u rstmdb -- rstmdbd reload --config /etc/rstmdb/config.yaml"
    p = machine.sh(tool, check=False)
    assert p.returncode == 78 and "tokens.secret:2" in p.stderr, (p.returncode, p.stderr)
    # ... and with the file fixed, the server applies it and the tool says so.
    machine.sh("printf '%%s svc-b\\n' %s > %s" % (sha(TOKEN_B), SECRETS))
    p = machine.sh(tool)
    assert p.stdout.startswith("reload applied: "), p.stdout
    assert admin_status(machine)["reloads"] == dict(reloads, rejected=reloads["rejected"] + 1,
                                                    applied=reloads["applied"] + 1)
    assert machine.show("MainPID", "NRestarts") == before
