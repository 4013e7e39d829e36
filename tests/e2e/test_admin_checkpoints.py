"""ADMIN_CHECKPOINT_CREATE / ADMIN_CHECKPOINT_RELEASE (runtime.md §5.7, §7.1): hard-link
checkpoints in <data_dir>/checkpoints/<id>/, their bounds, and their clean-up."""

import os
import signal
import time
from pathlib import Path

import pytest

import rcp_client as rc
from admin_helpers import AdminConnection, setup_machine, socket_path
from conftest import ServerProcess

MAX_OPEN = 4


def admin(server):
    return AdminConnection(socket_path(server))


def test_create_and_release(server_factory):
    srv = server_factory()
    with srv.connect() as c:
        setup_machine(c, 20)
        latest = rc.assert_ok(c.request("WAL_STATS"))["latest_offset"]
    with admin(srv) as a:
        cp = a.ok("ADMIN_CHECKPOINT_CREATE")
        assert list(cp) == ["id", "path", "latest_offset", "oldest_offset", "machines", "instances", "created_at",
                            "server_version"]
        assert cp["path"] == str(srv.data_dir / "checkpoints" / cp["id"])
        assert (cp["latest_offset"], cp["oldest_offset"], cp["machines"], cp["instances"]) == (latest, 1, 1, 20)
        files = {p.name for p in Path(cp["path"]).iterdir()}
        assert "CURRENT" in files and any(f.startswith("MANIFEST-") for f in files)
        assert any(f.endswith(".sst") for f in files)  # memtables were flushed into it
        status = a.ok("ADMIN_STATUS")
        assert status["checkpoints_open"] == 1 and status["last_backup"] is None

        assert a.ok("ADMIN_CHECKPOINT_RELEASE", {"id": cp["id"]}) == {"released": cp["id"]}
        assert not Path(cp["path"]).exists()
        status = a.ok("ADMIN_STATUS")
        assert status["checkpoints_open"] == 0
        assert status["last_backup"] is None  # released without a completed copy

        again = a.request("ADMIN_CHECKPOINT_RELEASE", {"id": cp["id"]})
        assert again["status"] == "error" and again["error"]["code"] == "NOT_FOUND"

        # A release after a completed copy is the last successful backup.
        cp2 = a.ok("ADMIN_CHECKPOINT_CREATE")
        before = time.time()
        a.ok("ADMIN_CHECKPOINT_RELEASE", {"id": cp2["id"], "backup_completed": True})
        last = a.ok("ADMIN_STATUS")["last_backup"]
        assert last["checkpoint"] == cp2["id"] and last["latest_offset"] == latest
        assert before - 2 <= last["unix_s"] <= time.time() + 1
        assert last["at"].endswith("Z")


@pytest.mark.parametrize("params, message", [
    ({}, "missing or invalid field 'id'"),
    ({"id": 5}, "missing or invalid field 'id'"),
    ({"id": ""}, "invalid checkpoint id"),
    ({"id": "../../db"}, "invalid checkpoint id"),
    ({"id": "cp/../x"}, "invalid checkpoint id"),
    ({"id": "x" * 65}, "invalid checkpoint id"),
    ({"id": "cp-1", "backup_completed": "yes"}, "backup_completed must be a boolean"),
])
def test_release_refuses_bad_ids_and_deletes_nothing(server, params, message):
    with admin(server) as a:
        msg = a.request("ADMIN_CHECKPOINT_RELEASE", params)
        assert msg["status"] == "error" and msg["error"]["code"] == "BAD_REQUEST", msg
        assert message in msg["error"]["message"]
    assert (server.data_dir / "db" / "CURRENT").exists()


def test_open_checkpoints_are_limited(server_factory):
    srv = server_factory()
    with admin(srv) as a:
        ids = [a.ok("ADMIN_CHECKPOINT_CREATE")["id"] for _ in range(MAX_OPEN)]
        assert len(set(ids)) == MAX_OPEN
        msg = a.request("ADMIN_CHECKPOINT_CREATE")
        assert msg["status"] == "error" and msg["error"]["code"] == "RATE_LIMITED"
        assert msg["error"]["retryable"] is True
        assert len(list((srv.data_dir / "checkpoints").iterdir())) == MAX_OPEN
        a.ok("ADMIN_CHECKPOINT_RELEASE", {"id": ids[0]})
        a.ok("ADMIN_CHECKPOINT_CREATE")


def test_checkpoints_do_not_survive_a_restart(tmp_path):
    srv = ServerProcess(tmp_path / "cp").start()
    try:
        with admin(srv) as a:
            cp = a.ok("ADMIN_CHECKPOINT_CREATE")
        srv.proc.send_signal(signal.SIGKILL)  # abandoned: the tool never released it
        srv.wait(10)
        assert Path(cp["path"]).exists()
        again = ServerProcess(srv.workdir, name="cp-again").start()
        assert list((again.data_dir / "checkpoints").iterdir()) == []
        with AdminConnection(socket_path(again)) as a:
            assert a.ok("ADMIN_STATUS")["checkpoints_open"] == 0
            msg = a.request("ADMIN_CHECKPOINT_RELEASE", {"id": cp["id"]})
            assert msg["error"]["code"] == "NOT_FOUND"
        assert again.stop() == 0
    finally:
        srv.stop_quietly()
        srv.cleanup_tmp()


def test_each_checkpoint_reports_the_offset_it_holds(server_factory):
    """With small memtables (flushes between checkpoints), each checkpoint reports the latest
    offset written before it."""
    srv = server_factory(["--set", "storage.wal_segment_size_mb=1"])
    with srv.connect() as c, admin(srv) as a:
        ids = setup_machine(c, 50)
        seen = []
        for round_no in range(5):
            for i, iid in enumerate(ids):
                c.send(rc.make_request("APPLY_EVENT", {"instance_id": iid, "event": "NEXT",
                                                       "payload": {"pad": "x" * 500}}, id="a%d" % i))
            for i in range(len(ids)):
                rc.assert_ok(c.recv_response(), id="a%d" % i)
            cp = a.ok("ADMIN_CHECKPOINT_CREATE")
            latest = rc.assert_ok(c.request("WAL_STATS"))["latest_offset"]
            assert cp["latest_offset"] == latest  # nothing was written in between
            seen.append(cp["latest_offset"])
            a.ok("ADMIN_CHECKPOINT_RELEASE", {"id": cp["id"]})
        assert seen == sorted(seen) and len(set(seen)) == 5
