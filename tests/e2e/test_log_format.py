"""The text log under systemd (runtime.md §4.4): when JOURNAL_STREAM names stdout's device and
inode, text lines drop the timestamp and start with the syslog priority `<N>`; otherwise (unset,
or naming another file) they keep the timestamp.
"""

import os
import re

import rcp_client as rc


def _journal_server(server_factory, journal_stream_of_stdout=True):
    # INFO: at DEBUG RocksDB's option dump spans several lines per record.
    srv = server_factory(["--set", "logging.access_log=all"], start=False)
    srv.stdout_path.write_bytes(b"")  # the file the server's stdout will be (same inode)
    st = os.stat(srv.stdout_path if journal_stream_of_stdout else srv.stderr_path.parent)
    srv.env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    srv.start()
    return srv


def test_journal_stream_matching_stdout_gives_priority_prefixes(server_factory):
    srv = _journal_server(server_factory)
    with srv.connect() as c:
        rc.assert_ok(c.request("PING"))
    srv.stop()
    lines = [line for line in srv.stdout_text().splitlines() if line]
    assert lines, srv.output()
    assert any(line.startswith("<6>INFO  server: Server listening on ") for line in lines), lines
    assert any(line.startswith("<6>INFO  access: conn=") for line in lines), lines
    assert any(line.startswith("<4>WARN  ") for line in lines) or os.geteuid() != 0, lines  # root WARN
    for line in lines:
        assert re.match(r"^<[0-7]>(TRACE|DEBUG|INFO |WARN |ERROR|CRIT)", line), line


def test_journal_stream_naming_another_file_keeps_timestamps(server_factory):
    srv = _journal_server(server_factory, journal_stream_of_stdout=False)
    srv.stop()
    lines = [line for line in srv.stdout_text().splitlines() if line]
    assert lines
    for line in lines:
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN ) ", line), line
