"""`rstmdbd backup`, `verify-backup` and `restore` against the real binary (runtime.md §7):
offline, tar-stream and incremental round trips, --keep, damage found by verify-backup, the
refusals of restore, a killed backup tool, ownership and a data directory that is a mount
point."""

import json
import os
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

import rcp_client as rc
from admin_helpers import (EXIT_EXISTS, EXIT_INVALID, EXIT_LOCKED, EXIT_PERMISSION, EXIT_UNAVAILABLE, EXIT_USAGE,
                           AdminConnection, assert_restored_matches, backups_in, flip_byte, largest_file,
                           manifest_of, run_tool, setup_machine, socket_path, tool_ok)
from conftest import ServerProcess, binary_path, clean_env


def write_some(server, instances=120, rounds=3, prefix="inst"):
    """Instances moved a few times; returns the latest offset."""
    with server.connect() as c:
        ids = setup_machine(c, instances, prefix=prefix)
        for r in range(rounds):
            for i, iid in enumerate(ids):
                c.send(rc.make_request("APPLY_EVENT", {"instance_id": iid, "event": "NEXT",
                                                       "payload": {"round": r, "pad": "p" * 200}}, id="a%d" % i))
            for i in range(len(ids)):
                rc.assert_ok(c.recv_response(), id="a%d" % i)
        return rc.assert_ok(c.request("WAL_STATS"))["latest_offset"]


@pytest.fixture
def stopped_source(tmp_path):
    """A data directory with data, its server stopped."""
    srv = ServerProcess(tmp_path / "source").start()
    latest = write_some(srv)
    assert srv.stop() == 0
    yield srv, latest
    srv.cleanup_tmp()


def start_on(workdir, name):
    return ServerProcess(workdir, name=name).start()


def check_restored(source_workdir, restored_workdir, latest):
    source = start_on(source_workdir, "source-again")
    restored = start_on(restored_workdir, "restored")
    try:
        assert_restored_matches(source, restored, latest)
    finally:
        assert restored.stop() == 0
        assert source.stop() == 0
        restored.cleanup_tmp()


# ---- round trips ------------------------------------------------------------------------

def test_offline_backup_round_trip(stopped_source, tmp_path):
    srv, latest = stopped_source
    p = tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    [backup] = backups_in(tmp_path / "b")
    m = manifest_of(backup)
    assert m["source"]["mode"] == "offline" and m["latest_offset"] == latest
    assert m["instances"] == 120 and m["machines"] == 1 and m["label"] is None
    assert [f["path"] for f in m["files"]][0] == "FORMAT"
    assert {p.name for p in backup.iterdir()} == {"FORMAT", "MANIFEST.json", "db"}
    assert "offline-" in m["source"]["checkpoint"]
    assert list((srv.data_dir / "checkpoints").iterdir()) == []  # its own checkpoint is gone
    assert str(backup) in p.stdout
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    tool_ok(["verify-backup", backup])
    tool_ok(["restore", "--data-dir", tmp_path / "r" / "data", "--from", backup])
    check_restored(srv.workdir, tmp_path / "r", latest)


def test_tar_stream_round_trip(server_factory, tmp_path):
    srv = server_factory()
    latest = write_some(srv)
    archive = tmp_path / "b.tar"
    with open(archive, "wb") as out:
        p = run_tool(["backup", "--data-dir", srv.data_dir, "--to", "-"], stdout=out)
    assert p.returncode == 0, p.stderr
    assert "backup streamed to standard output" in p.stderr
    names = subprocess.run(["tar", "-tf", archive], stdout=subprocess.PIPE, check=True).stdout.decode().split()
    top = names[0].rstrip("/")
    assert top.startswith("rstmdb-") and top.endswith("-%d" % latest)
    assert names[1] == top + "/MANIFEST.json"  # manifest first
    assert top + "/FORMAT" in names
    v = tool_ok(["verify-backup", archive])
    assert "valid (files and database): offset %d" % latest in v.stdout
    with open(archive, "rb") as inp:
        tool_ok(["verify-backup", "-", "--quick"], stdin=inp)
    with open(archive, "rb") as inp:
        tool_ok(["restore", "--data-dir", tmp_path / "r" / "data", "--from", "-"], stdin=inp)
    srv.stop()
    check_restored(srv.workdir, tmp_path / "r", latest)


def test_incremental_round_trip(server_factory, tmp_path):
    srv = server_factory()
    repo = tmp_path / "repo"
    write_some(srv, instances=80, prefix="a")
    first = tool_ok(["backup", "--data-dir", srv.data_dir, "--to", repo, "--incremental"])
    assert first.stdout.startswith("incremental backup 1 written to %s" % repo)
    latest = write_some(srv, instances=40, prefix="b")
    second = tool_ok(["backup", "--data-dir", srv.data_dir, "--to", repo, "--incremental", "--label", "two"])
    assert "incremental backup 2 written" in second.stdout and "(offset %d," % latest in second.stdout
    assert (repo / "meta").is_dir() and (repo / "shared_checksum").is_dir()
    v = tool_ok(["verify-backup", repo])
    lines = v.stdout.splitlines()
    assert len(lines) == 2 and "backup 2: valid" in lines[1] and "label two" in lines[1]
    tool_ok(["restore", "--data-dir", tmp_path / "r" / "data", "--from", repo])
    # --keep 1 prunes the repository to the newest backup.
    third = tool_ok(["backup", "--data-dir", srv.data_dir, "--to", repo, "--incremental", "--keep", "1"])
    assert "incremental backup 3" in third.stdout
    assert len(tool_ok(["verify-backup", repo, "--quick"]).stdout.splitlines()) == 1
    srv.stop()
    check_restored(srv.workdir, tmp_path / "r", latest)


def test_keep_prunes_older_backups(server_factory, tmp_path):
    srv = server_factory()
    made = []
    for i in range(3):
        write_some(srv, instances=10, rounds=1, prefix="k%d" % i)
        tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
        made.append(backups_in(tmp_path / "b")[-1])
    p = tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b", "--keep", "2"])
    kept = backups_in(tmp_path / "b")
    assert len(kept) == 2 and kept[0] == made[2] and kept[1] not in made
    assert p.stderr.count("pruned") == 2
    for b in kept:
        tool_ok(["verify-backup", b, "--quick"])


# ---- verify-backup finds damage ---------------------------------------------------------

def test_a_flipped_byte_fails_verify_backup(stopped_source, tmp_path):
    srv, _ = stopped_source
    tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    [backup] = backups_in(tmp_path / "b")
    flip_byte(largest_file(backup / "db"))
    for args in ([backup], [backup, "--quick"]):
        p = run_tool(["verify-backup"] + args)
        assert p.returncode == EXIT_INVALID, p
        assert "is not valid" in p.stderr and "does not match its SHA-256" in p.stderr
    # ... and restore refuses it, leaving nothing behind.
    p = run_tool(["restore", "--data-dir", tmp_path / "r" / "data", "--from", backup])
    assert p.returncode == EXIT_INVALID, p
    assert not (tmp_path / "r" / "data").exists()
    assert not (tmp_path / "r" / "data.restore-tmp").exists()


def test_a_flipped_byte_in_a_tar_or_a_repository_fails_verify_backup(server_factory, tmp_path):
    srv = server_factory()
    write_some(srv)
    archive = tmp_path / "b.tar"
    with open(archive, "wb") as out:
        assert run_tool(["backup", "--data-dir", srv.data_dir, "--to", "-"], stdout=out).returncode == 0
    flip_byte(archive, archive.stat().st_size // 2)
    assert run_tool(["verify-backup", archive]).returncode == EXIT_INVALID
    repo = tmp_path / "repo"
    tool_ok(["backup", "--data-dir", srv.data_dir, "--to", repo, "--incremental"])
    flip_byte(largest_file(repo / "shared_checksum"))
    p = run_tool(["verify-backup", repo])
    assert p.returncode == EXIT_INVALID and "backup 1" in p.stderr


@pytest.mark.parametrize("path, message", [
    ("missing", "no such file or directory"),
    ("emptydir", "is not a backup"),
])
def test_verify_backup_of_something_else_is_invalid(tmp_path, path, message):
    (tmp_path / "emptydir").mkdir()
    p = run_tool(["verify-backup", tmp_path / path])
    assert p.returncode == EXIT_INVALID and message in p.stderr


# ---- restore refusals ---------------------------------------------------------------------

def test_restore_beside_a_running_server_is_refused(server_factory, tmp_path):
    srv = server_factory()
    latest = write_some(srv)
    tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    [backup] = backups_in(tmp_path / "b")
    p = run_tool(["restore", "--data-dir", srv.data_dir, "--from", backup, "--force"])
    assert p.returncode == EXIT_LOCKED, p
    assert "is in use by another rstmdbd (pid %d)" % srv.proc.pid in p.stderr
    with srv.connect() as c:
        assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] == latest
    assert not Path(str(srv.data_dir) + ".restore-tmp").exists()


def test_restore_needs_force_for_a_non_empty_target_and_keeps_the_old_data(stopped_source, tmp_path):
    srv, latest = stopped_source
    tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    [backup] = backups_in(tmp_path / "b")
    other = ServerProcess(tmp_path / "other").start()
    other_latest = write_some(other, instances=5, rounds=1, prefix="o")
    assert other.stop() == 0
    p = run_tool(["restore", "--data-dir", other.data_dir, "--from", backup])
    assert p.returncode == EXIT_EXISTS and "--force" in p.stderr
    p = tool_ok(["restore", "--data-dir", other.data_dir, "--from", backup, "--force"])
    previous = [d for d in other.data_dir.parent.iterdir() if d.name.startswith("data.pre-restore-")]
    assert len(previous) == 1 and str(previous[0]) in p.stdout
    # The old data is intact beside the restored one.
    old = ServerProcess(tmp_path / "old-view")
    old.data_dir.parent.mkdir(parents=True, exist_ok=True)
    previous[0].rename(old.data_dir)
    old.start()
    with old.connect() as c:
        assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] == other_latest
    assert old.stop() == 0
    check_restored(srv.workdir, other.workdir, latest)
    other.cleanup_tmp()
    old.cleanup_tmp()


def test_backup_usage_errors(tmp_path):
    assert run_tool(["backup", "--data-dir", tmp_path, "--to", "-", "--incremental"]).returncode == EXIT_USAGE
    assert run_tool(["backup", "--data-dir", tmp_path, "--to", "-", "--keep", "2"]).returncode == EXIT_USAGE
    assert run_tool(["backup", "--data-dir", tmp_path, "--to", "x", "--label", "a\tb"]).returncode == EXIT_USAGE
    p = run_tool(["restore", "--data-dir", tmp_path / "d", "--from", "x", "--chown", "no-such-user-rstmdb"])
    assert p.returncode == EXIT_USAGE and "no such user" in p.stderr
    p = run_tool(["backup", "--data-dir", tmp_path / "nothing", "--to", tmp_path / "b"])
    assert p.returncode == 74 and "not an rstmdbd data directory" in p.stderr
    assert not (tmp_path / "nothing").exists()


def test_backup_with_an_unreachable_admin_socket_exits_69(tmp_path):
    # The lock held by a server whose admin socket is elsewhere than this configuration says.
    srv = ServerProcess(tmp_path / "s", extra_args=["--set", "admin.socket_path=/tmp/rstmdb-e2e-away-%d.sock"
                                                    % os.getpid()]).start()
    try:
        p = run_tool(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
        assert p.returncode == EXIT_UNAVAILABLE, p
        assert "is in use by another rstmdbd (pid %d), but its admin socket is unreachable" % srv.proc.pid \
            in p.stderr
        assert backups_in(tmp_path / "b") == []
    finally:
        assert srv.stop() == 0
        srv.cleanup_tmp()


# ---- a killed backup tool -----------------------------------------------------------------

def process_state(pid):
    return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]


def test_a_killed_backup_leaves_no_visible_backup(server_factory, tmp_path):
    srv = server_factory(["--set", "storage.wal_segment_size_mb=1"])
    write_some(srv, instances=200, rounds=4)
    target = tmp_path / "b"
    env = clean_env({"RSTMDBD_TEST_STOP_AFTER_FILES": "1"})
    tool = subprocess.Popen([str(binary_path()), "backup", "--data-dir", str(srv.data_dir), "--to", str(target)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while process_state(tool.pid) != "T":  # stopped itself after copying one file
            assert tool.poll() is None, tool.communicate()
            assert time.monotonic() < deadline, "the tool did not reach its stop point"
            time.sleep(0.02)
        partial = target / ".tmp-writing"
        assert len(list((partial / "db").iterdir())) == 1
        assert backups_in(target) == []
        tool.send_signal(signal.SIGKILL)
        assert tool.wait(10) == -signal.SIGKILL
    finally:
        if tool.poll() is None:
            tool.kill()
            tool.wait(10)
    assert backups_in(target) == []  # nothing under a backup's name
    with AdminConnection(socket_path(srv)) as a:
        status = a.ok("ADMIN_STATUS")
        assert status["checkpoints_open"] == 1  # abandoned; purged after an hour or at restart
        assert status["last_backup"] is None
    # The next run removes the leftover and writes a complete backup.
    p = tool_ok(["backup", "--data-dir", srv.data_dir, "--to", target])
    assert "removed %s, left by an interrupted backup" % partial in p.stderr
    assert not partial.exists()
    [backup] = backups_in(target)
    tool_ok(["verify-backup", backup])


# ---- ownership and mount points (root) -----------------------------------------------------

NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, mount)")


@needs_root
def test_offline_backup_must_run_as_the_owner(stopped_source, tmp_path):
    srv, _ = stopped_source
    for p in [srv.data_dir] + list(srv.data_dir.rglob("*")):
        os.lchown(p, NOBODY, NOBODY)
    p = run_tool(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    assert p.returncode == EXIT_PERMISSION and "must run as the directory's owner (uid %d)" % NOBODY in p.stderr
    assert all(q.stat().st_uid == NOBODY for q in srv.data_dir.rglob("*"))  # nothing written as root


@needs_root
def test_restore_takes_the_owner_of_the_old_data_dir_or_chown(stopped_source, tmp_path):
    srv, latest = stopped_source
    tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    [backup] = backups_in(tmp_path / "b")
    old = tmp_path / "t" / "data"
    old.mkdir(parents=True)
    os.chown(old, NOBODY, NOBODY)
    tool_ok(["restore", "--data-dir", old, "--from", backup])
    owners = {(q.stat().st_uid, q.stat().st_gid) for q in [old] + list(old.rglob("*"))}
    assert owners == {(NOBODY, NOBODY)}
    tool_ok(["restore", "--data-dir", old, "--from", backup, "--force", "--chown", "0:0"])
    owners = {(q.stat().st_uid, q.stat().st_gid) for q in [old] + list(old.rglob("*"))}
    assert owners == {(0, 0)}


@needs_root
def test_restore_into_a_mount_point_works_in_place(stopped_source, tmp_path):
    srv, latest = stopped_source
    tool_ok(["backup", "--data-dir", srv.data_dir, "--to", tmp_path / "b"])
    [backup] = backups_in(tmp_path / "b")
    restored = ServerProcess(tmp_path / "vol")
    restored.data_dir.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(restored.data_dir)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        # An old database on the volume, as a container's volume would hold.
        first = ServerProcess(restored.workdir, name="before").start()
        write_some(first, instances=3, rounds=1, prefix="old")
        assert first.stop() == 0
        p = tool_ok(["restore", "--data-dir", restored.data_dir, "--from", backup, "--force"])
        previous = [d for d in restored.data_dir.iterdir() if d.name.startswith(".pre-restore-")]
        assert len(previous) == 1 and str(previous[0]) in p.stdout
        assert (previous[0] / "FORMAT").exists()
        assert not (restored.data_dir / ".restore-tmp").exists()
        check_restored(srv.workdir, restored.workdir, latest)
    finally:
        subprocess.run(["umount", str(restored.data_dir)])
        restored.cleanup_tmp()
