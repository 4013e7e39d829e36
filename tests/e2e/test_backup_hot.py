"""Hot backup under write load (runtime.md §7.1, §7.4): `rstmdbd backup` against a running
server while writers apply events and atomic batches, then restore into a new data directory
and start a server there. The restored server must hold exactly the source's history up to
the manifest's latest_offset (every log record, every instance), every write acknowledged
before the backup started, and no atomic batch cut in half."""

import subprocess
import time

import rcp_client as rc
from admin_helpers import (AdminConnection, Load, assert_restored_matches, backups_in, manifest_of,
                           setup_machine, socket_path, tool_ok)
from conftest import ServerProcess


def test_hot_backup_under_load_restores_to_the_same_point(server_factory, tmp_path):
    # Small memtables: flushes (and more SST files) happen during the load and the backup.
    source = server_factory(["--set", "storage.wal_segment_size_mb=1"])
    with source.connect() as c:
        ids = setup_machine(c, 240)
    load = Load(source, ids[:200], writers=6)  # 40 instances stay as created
    try:
        load.wait_for_acks(1500)
        started = time.monotonic()
        p = tool_ok(["backup", "--data-dir", source.data_dir, "--to", tmp_path / "backups", "--label", "hot"])
        finished = time.monotonic()
        load.wait_for_acks(sum(len(w.acked) for w in load.writers) + 300)  # writes went on
    finally:
        load.finish()

    [backup] = backups_in(tmp_path / "backups")
    assert p.stdout.startswith("backup written: %s (offset " % backup)
    m = manifest_of(backup)
    latest = m["latest_offset"]
    assert m["source"]["mode"] == "online" and m["label"] == "hot"
    assert m["source"]["data_dir"] == str(source.data_dir)
    assert backup.name.endswith("-%d" % latest)

    # Every write acknowledged before the tool started is in the backup ...
    before = load.acked_before(started)
    assert before and max(before) <= latest
    # ... writes were acknowledged while it ran and after it (it did not stop the world) ...
    with source.connect() as c:
        final = rc.assert_ok(c.request("WAL_STATS"))["latest_offset"]
    assert final > latest
    during = [o for w in load.writers for (at, offsets) in w.acked if started <= at <= finished for o in offsets]
    assert during, "no write was acknowledged while the backup ran"
    # ... and no atomic batch is half in it.
    batches = load.batches()
    assert len(batches) > 100
    for offsets in batches:
        assert all(o <= latest for o in offsets) or all(o > latest for o in offsets), offsets
    # The server recorded the successful backup.
    with AdminConnection(socket_path(source)) as a:
        status = a.ok("ADMIN_STATUS")
    assert status["last_backup"]["latest_offset"] == latest
    assert status["checkpoints_open"] == 0
    assert list((source.data_dir / "checkpoints").iterdir()) == []

    tool_ok(["verify-backup", backup])
    target = tmp_path / "restored"
    tool_ok(["restore", "--data-dir", target / "data", "--from", backup])
    restored = ServerProcess(target, name="restored").start()
    try:
        unchanged = assert_restored_matches(source, restored, latest)
        assert unchanged >= 40  # compared object for object with the source
        with restored.connect() as c:
            stats = rc.assert_ok(c.request("WAL_STATS"))
            assert stats["latest_offset"] == latest
            # The restored server takes writes after the restored history.
            r = rc.assert_ok(c.request("APPLY_EVENT", {"instance_id": ids[0], "event": "NEXT"}))
            assert r["wal_offset"] == latest + 1
    finally:
        assert restored.stop() == 0
        restored.cleanup_tmp()
