"""Backup and restore with the server image (runtime.md §7, issue 14 item 5), the way
docs/backup.md tells Docker users to do it: a hot backup streamed out of the running
container under write load (`podman exec C rstmdbd backup --to - > b.tar`), verify-backup
in a throwaway container, restore onto the volume with the server stopped (`podman run
--rm -v VOL:/data -v DIR:/backup:ro IMAGE restore --from /backup/b.tar --force`), and
`podman start` of the server container, which then holds exactly the backed-up history.
A corrupted archive fails verify-backup, and a restore beside the running server is refused."""

import json
import subprocess
import tarfile

import rcp_client as rc
from conftest import client, run
from load_helpers import Load, all_instances, expected_from_log, read_log, setup_machine
from test_image import containers, volume  # noqa: F401  (fixtures)

EXIT_INVALID = 65
EXIT_LOCKED = 75


class Endpoint:
    """The load helpers' notion of a server: something that connects."""

    def __init__(self, pid):
        self.pid = pid

    def connect(self, timeout=30):
        return client(self.pid)


def podman(args, stdin=None, stdout=subprocess.PIPE, timeout=120):
    return subprocess.run(["podman"] + [str(a) for a in args], stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                          timeout=timeout)


def manifest_in(archive):
    with tarfile.open(archive) as t:
        first = t.next()
        while first is not None and not first.isfile():
            first = t.next()
        assert first.name.endswith("/MANIFEST.json"), first.name  # the manifest comes first
        return json.load(t.extractfile(first))


def test_hot_backup_verify_and_restore_with_the_image(image, containers, volume, tmp_path):  # noqa: F811
    source = containers(volume=volume)
    pid = source.wait_ready()
    with client(pid) as c:
        ids = setup_machine(c, 150)
    load = Load(Endpoint(pid), ids[:120], writers=4)
    archive = tmp_path / "backup" / "b.tar"
    archive.parent.mkdir()
    try:
        load.wait_for_acks(800)
        with open(archive, "wb") as out:
            p = podman(["exec", source.name, "rstmdbd", "backup", "--to", "-"], stdout=out)
        assert p.returncode == 0, p.stderr.decode()
        load.wait_for_acks(sum(len(w.acked) for w in load.writers) + 200)
    finally:
        load.finish()
    m = manifest_in(archive)
    latest = m["latest_offset"]
    assert m["source"]["mode"] == "online" and m["source"]["data_dir"] == "/data"
    for offsets in load.batches():  # no atomic batch half in the backup
        assert all(o <= latest for o in offsets) or all(o > latest for o in offsets), offsets
    with client(pid) as c:
        assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] > latest  # writes went on
        source_log = read_log(c, up_to=latest)
        source_now = all_instances(c)
    status = json.loads(podman(["exec", source.name, "rstmdbd", "status"]).stdout)
    assert status["last_backup"]["latest_offset"] == latest and status["checkpoints_open"] == 0

    # Restore beside the running server: refused, nothing touched. The lock is taken before the
    # archive is read, so none is streamed in: with `exec -i` podman's attach can lose the
    # stderr of a process that exits before reading its input (seen once: 75, empty stderr).
    p = podman(["exec", source.name, "rstmdbd", "restore", "--from", "-", "--force"], stdin=subprocess.DEVNULL)
    assert p.returncode == EXIT_LOCKED, p.stderr.decode()
    assert b"is in use by another rstmdbd" in p.stderr

    # verify-backup in a throwaway container: the archive is valid, a damaged copy is not.
    with open(archive, "rb") as inp:
        p = podman(["run", "--rm", "-i", "--network", "none", "--read-only", image, "verify-backup", "-"], stdin=inp)
    assert p.returncode == 0, p.stderr.decode()
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x20
    damaged_path = tmp_path / "damaged.tar"
    damaged_path.write_bytes(bytes(data))
    with open(damaged_path, "rb") as inp:
        p = podman(["run", "--rm", "-i", "--network", "none", "--read-only", image, "verify-backup", "-"], stdin=inp)
    assert p.returncode == EXIT_INVALID, p.stderr.decode()

    # The Docker restore procedure: stop, restore onto the volume (a mount point, read-only root:
    # restored in place), start.
    source.stop()
    archive.parent.chmod(0o755)
    archive.chmod(0o644)
    p = podman(["run", "--rm", "--network", "none", "--read-only", "-v", "%s:/data" % volume,
                "-v", "%s:/backup:ro" % archive.parent, image, "restore", "--from", "/backup/b.tar", "--force"])
    assert p.returncode == 0, p.stderr.decode()
    assert b"previous contents in /data/.pre-restore-" in p.stdout, p.stdout

    # `docker start` of the same container, as the README says.
    run(["podman", "start", source.name])
    restored = source
    rpid = restored.wait_ready()
    with client(rpid) as c:
        assert rc.assert_ok(c.request("WAL_STATS"))["latest_offset"] == latest
        assert read_log(c) == source_log
        got = all_instances(c)
    expected = expected_from_log(source_log)
    assert set(got) == set(expected)
    for iid, (state, offset, ctx) in expected.items():
        assert (got[iid]["state"], got[iid]["last_wal_offset"], got[iid]["ctx"]) == (state, offset, ctx), iid
    unchanged = [iid for iid, inst in source_now.items() if inst["last_wal_offset"] <= latest]
    assert len(unchanged) >= 30
    for iid in unchanged:
        assert got[iid] == source_now[iid], iid
    assert "latest offset %d" % latest in restored.logs()
