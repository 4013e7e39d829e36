"""Completions never recurse (server/session.hpp): requests answered inline (PING) queued
behind slow ones (scans of full pages) start one after another in a loop, not each from the
previous one's completion, so max_in_flight = 65 536 of them cannot overflow the stack.

Run this module against an ASan build too (build-asan, -DRSTMDB_SANITIZE=ON): a stack
overflow or use-after-free there is reported, not just a crash.
"""

import threading

import rcp_client as rc
from bounds_helpers import JsonlStream, fill_log

MAX_IN_FLIGHT = 65536
SCANS = 8


def test_65536_inline_requests_behind_slow_scans(server_factory):
    srv = server_factory(["--set", "network.max_in_flight=%d" % MAX_IN_FLIGHT,
                          "--set", "storage.fsync_policy=never"])
    fill_log(srv, entries=16, payload_bytes=1024 * 1024)  # full ~16 MB pages: slow scans
    pings = MAX_IN_FLIGHT - SCANS
    data = b"".join(rc.encode_jsonl(rc.make_request("WAL_READ", {"from_offset": 1, "limit": 10000},
                                                    id="w%d" % i)) for i in range(SCANS))
    data += b"".join(rc.encode_jsonl(rc.make_request("PING", None, id=str(i))) for i in range(pings))
    s = JsonlStream(srv, timeout=60)
    errors = []

    def send():
        try:
            s.conn.send_raw(data, timeout=60)
        except Exception as e:  # reported below
            errors.append(e)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        for i in range(SCANS):
            msg = s.recv(timeout=60)
            assert msg["id"] == "w%d" % i and rc.assert_ok(msg)["records"], msg.get("id")
        for i in range(pings):
            msg = s.recv(timeout=60)
            assert msg["id"] == str(i), (i, msg)
            assert msg["status"] == "ok" and msg["result"] == {"pong": True}, msg
        sender.join(30)
        assert not errors, errors
    finally:
        s.close()
    assert srv.proc.poll() is None, srv.output()
    with srv.connect() as c:
        c.ping()
