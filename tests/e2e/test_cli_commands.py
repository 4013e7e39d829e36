"""rstmdb-cli against the real rstmdbd (auth on): every subcommand, human and --json output,
errors and exit codes (runtime.md §2.2)."""

import hashlib
import json
import re

import pytest

from cli_helpers import (Cli, ORDER_DEF, PAYMENT_DEF, TOKEN, TOKEN_HASH, auth_args, run_cli)

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TIMESTAMP_RE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def pretty(obj):
    """serde_json's pretty layout, which is also Python's indent=2."""
    return json.dumps(obj, indent=2, ensure_ascii=False)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(auth_args(TOKEN_HASH))


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def cli(srv, home):
    return Cli(srv.host, srv.port, home, token=TOKEN)


@pytest.fixture(scope="module")
def order(cli):
    """Machine `order` v1 registered once for the module."""
    cli("put-machine", "-n", "order", "-v", "1", json.dumps(ORDER_DEF))
    return "order"


_counter = [0]


def unique(prefix):
    _counter[0] += 1
    return "%s-%d" % (prefix, _counter[0])


# ---- session ----------------------------------------------------------------------------

def test_ping(cli):
    assert cli.ok("ping") == "PONG\n"
    assert cli.json("ping") == {"pong": True}
    # PING needs no token even with auth on.
    r = cli("ping", token=False)
    assert (r.rc, r.out, r.err) == (0, "PONG\n", "")


def test_info(cli):
    result = cli.json("info")
    assert result["server_name"] == "rstmdb"
    assert result["implementation"] == "rstmdb-cpp"
    assert result["auth_required"] is True
    assert cli.ok("info") == pretty(result) + "\n"


def test_info_without_token_is_unauthorized(cli):
    r = cli.fails("info", token=False)
    assert r.err == "Error: server error: UNAUTHORIZED - authentication required\n"
    r = cli.fails("--json", "info", token=False)
    assert r.json_error() == {"code": "UNAUTHORIZED", "message": "authentication required",
                              "retryable": False}


def test_wrong_token_fails_the_connection(cli):
    r = Cli(cli.host, cli.port, cli.home, token="wrong")("ping")
    assert r.rc == 1 and r.out == ""
    assert r.err == ("Connection failed: server error: AUTH_FAILED - "
                     "authentication failed: invalid token\n")
    r = Cli(cli.host, cli.port, cli.home, token="wrong")("--json", "ping")
    assert r.json_error()["code"] == "AUTH_FAILED"


def test_token_from_environment(cli):
    r = cli("info", token=False, env={"RSTMDB_TOKEN": TOKEN})
    assert r.rc == 0, r


# ---- machines ---------------------------------------------------------------------------

def test_put_machine_inline_file_and_stdin(cli, tmp_path):
    name = unique("pm")
    r = cli.json("put-machine", "-n", name, "-v", "1", json.dumps(PAYMENT_DEF))
    assert r["machine"] == name and r["version"] == 1 and r["created"] is True
    checksum = r["stored_checksum"]
    path = tmp_path / "def.json"
    path.write_text(json.dumps(PAYMENT_DEF))
    assert cli.ok("put-machine", "-n", name, "-v", "1", "@%s" % path) == \
        "Already exists machine %s v1 (checksum: %s)\n" % (name, checksum)
    assert cli.ok("put-machine", "--name", name, "--version", "2", "@-",
                  input=json.dumps(PAYMENT_DEF).encode()) == \
        "Created machine %s v2 (checksum: %s)\n" % (name, checksum)


def test_put_machine_errors(cli, order):
    other = dict(ORDER_DEF, initial="paid")
    r = cli.fails("put-machine", "-n", "order", "-v", "1", json.dumps(other))
    assert r.err == ("Error: server error: MACHINE_VERSION_EXISTS - "
                     "machine version already exists: order v1\n")
    err = cli.fails("--json", "put-machine", "-n", "order", "-v", "1",
                    json.dumps(other)).json_error()
    assert err["code"] == "MACHINE_VERSION_EXISTS"
    assert err["details"]["machine"] == "order"
    r = cli.fails("put-machine", "-n", "x", "-v", "1", "{not json")
    assert r.err.startswith("Error: JSON error: definition: ")
    r = cli.fails("put-machine", "-n", "x", "-v", "1", "@/nonexistent/def.json")
    assert "cannot read '/nonexistent/def.json'" in r.err
    assert cli.fails("--json", "put-machine", "-n", "x", "-v", "1",
                     "{").json_error()["code"] == "INVALID_ARGUMENT"
    r = cli.fails("put-machine", "-n", "bad", "-v", "1", '{"states":[]}')
    assert r.err.startswith("Error: server error: BAD_REQUEST - invalid machine definition")


def test_get_machine(cli, order):
    r = cli.json("get-machine", "-n", "order", "-v", "1")
    assert r["machine"] == "order" and r["version"] == 1
    assert r["definition"] == ORDER_DEF
    assert re.fullmatch(r"[0-9a-f]{8}", r["checksum"])
    assert cli.ok("get-machine", "-n", "order", "-v", "1") == \
        "Machine order v1\n" + pretty(ORDER_DEF) + "\n"


def test_get_machine_latest_version(cli):
    name = unique("latest")
    for v in (1, 3, 2):
        d = dict(PAYMENT_DEF, meta={"v": v})
        cli.ok("put-machine", "-n", name, "-v", str(v), json.dumps(d))
    r = cli.json("get-machine", "-n", name)
    assert r["version"] == 3 and r["definition"]["meta"] == {"v": 3}
    assert cli.ok("get-machine", "-n", name).startswith("Machine %s v3\n" % name)


def test_get_machine_not_found(cli):
    r = cli.fails("get-machine", "-n", "nonexistent", "-v", "1")
    assert r.err == ("Error: server error: MACHINE_NOT_FOUND - "
                     "machine version not found: nonexistent v1\n")
    assert cli.fails("get-machine", "-n", "nonexistent").err == \
        "Error: machine not found: nonexistent\n"
    assert cli.fails("--json", "get-machine", "-n", "nonexistent").json_error() == \
        {"code": "MACHINE_NOT_FOUND", "message": "machine not found: nonexistent"}


def test_list_machines(cli, order):
    result = cli.json("list-machines")
    names = [i["machine"] for i in result["items"]]
    assert "order" in names and names == sorted(names)
    out = cli.ok("list-machines")
    lines = out.split("\n")
    assert "  order v1 (5 states, 5 transitions)" in lines
    assert out.endswith("\n\n")  # upstream: each line ends with \n, then println!
    assert len(lines) == len(names) + 2


def test_list_machines_empty(server_factory, tmp_path):
    srv = server_factory()
    cli = Cli(srv.host, srv.port, tmp_path)
    assert cli.ok("list-machines") == "No machines registered\n"
    assert cli.json("list-machines") == {"items": []}


# ---- instances --------------------------------------------------------------------------

def test_create_instance(cli, order):
    iid = unique("o")
    out = cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid, "-c",
                 '{"customer":"alice","total":99.99}')
    m = re.fullmatch(r"Created instance %s\n  Machine: order v1\n  State: created\n"
                     r"  WAL offset: (\d+)\n" % re.escape(iid), out)
    assert m, out
    r = cli.json("create-instance", "-m", "order", "-V", "1")
    assert UUID4_RE.match(r["instance_id"]) and r["state"] == "created"
    assert r["wal_offset"] > int(m.group(1))
    got = cli.json("get-instance", iid)
    assert got["ctx"] == {"customer": "alice", "total": 99.99}


def test_create_instance_errors(cli, order):
    iid = unique("dup")
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid)
    r = cli.fails("create-instance", "-m", "order", "-V", "1", "-i", iid)
    assert r.err == "Error: server error: INSTANCE_EXISTS - instance already exists: %s\n" % iid
    r = cli.fails("create-instance", "-m", "nope", "-V", "1")
    assert "MACHINE_NOT_FOUND" in r.err
    assert cli.fails("create-instance", "-m", "order", "-V", "1", "-c", "[1,").err.startswith(
        "Error: JSON error: ctx: ")


def test_create_instance_idempotency_key(cli, order):
    key = unique("key")
    first = cli.json("create-instance", "-m", "order", "-V", "1", "--idempotency-key", key)
    again = cli.json("create-instance", "-m", "order", "-V", "1", "--idempotency-key", key)
    assert again == first


def test_get_instance(cli, order):
    iid = unique("g")
    created = cli.json("create-instance", "-m", "order", "-V", "1", "-i", iid, "-c", '{"a":[1,2]}')
    assert cli.ok("get-instance", iid) == (
        "Instance %s\n  Machine: order v1\n  State: created\n  Context: %s\n"
        "  Last WAL offset: %d\n" % (iid, pretty({"a": [1, 2]}), created["wal_offset"]))
    r = cli.json("get-instance", iid)
    assert r["instance_id"] == iid and r["last_wal_offset"] == created["wal_offset"]
    r = cli.fails("get-instance", "nonexistent-999")
    assert r.err == "Error: server error: INSTANCE_NOT_FOUND - instance not found: nonexistent-999\n"
    assert cli.fails("--json", "get-instance", "nonexistent-999").json_error() == {
        "code": "INSTANCE_NOT_FOUND", "message": "instance not found: nonexistent-999",
        "retryable": False, "details": {"instance_id": "nonexistent-999"}}


def test_apply_event(cli, order):
    iid = unique("a")
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid)
    out = cli.ok("apply-event", "-i", iid, "-e", "PAY", "-p", '{"payment_id":"pay-123"}')
    m = re.fullmatch(r"Applied event PAY on %s\n  created \u2192 paid\n  WAL offset: (\d+)\n"
                     % re.escape(iid), out)
    assert m, out
    r = cli.json("apply-event", "-i", iid, "-e", "SHIP", "--expected-state", "paid",
                 "--expected-wal-offset", m.group(1), "--event-id", "evt-7")
    assert (r["from_state"], r["to_state"], r["applied"], r["event_id"]) == \
        ("paid", "shipped", True, "evt-7")
    assert cli.json("get-instance", iid)["last_event_id"] == "evt-7"


def test_apply_event_errors(cli, order):
    iid = unique("ae")
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid)
    r = cli.fails("apply-event", "-i", iid, "-e", "SHIP")
    assert r.err == ("Error: server error: INVALID_TRANSITION - invalid transition: "
                     "cannot apply 'SHIP' in state 'created'\n")
    r = cli.fails("apply-event", "-i", iid, "-e", "PAY", "--expected-state", "paid")
    assert r.err == ("Error: server error: CONFLICT - state conflict: expected 'paid', "
                     "actual 'created'\n")
    err = cli.fails("--json", "apply-event", "-i", iid, "-e", "PAY", "--expected-wal-offset",
                    "1").json_error()
    assert err["code"] == "CONFLICT" and err["details"]["expected_wal_offset"] == 1


def test_apply_event_guard(cli):
    cli.ok("put-machine", "-n", "payment", "-v", "1", json.dumps(PAYMENT_DEF))
    no, yes = unique("pay-no"), unique("pay-yes")
    cli.ok("create-instance", "-m", "payment", "-V", "1", "-i", no, "-c", '{"approved":false}')
    cli.ok("create-instance", "-m", "payment", "-V", "1", "-i", yes, "-c", '{"approved":true}')
    assert "GUARD_FAILED" in cli.fails("apply-event", "-i", no, "-e", "APPROVE").err
    assert cli.json("apply-event", "-i", yes, "-e", "APPROVE")["to_state"] == "approved"


def test_apply_event_idempotency_key(cli, order):
    iid = unique("ik")
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid)
    first = cli.json("apply-event", "-i", iid, "-e", "PAY", "--idempotency-key", "k1")
    again = cli.json("apply-event", "-i", iid, "-e", "PAY", "--idempotency-key", "k1")
    assert first["applied"] is True and again["applied"] is False
    assert again["wal_offset"] == first["wal_offset"]


def test_delete_instance(cli, order):
    iid = unique("del")
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid)
    assert cli.ok("delete-instance", iid) == "Deleted instance %s\n" % iid
    r = cli.json("delete-instance", iid)  # deleting again succeeds (upstream's test suite)
    assert r["instance_id"] == iid and r["deleted"] is True
    assert "INSTANCE_NOT_FOUND" in cli.fails("get-instance", iid).err
    assert "INSTANCE_NOT_FOUND" in cli.fails("delete-instance", "never-created").err
    iid2 = unique("del")
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", iid2)
    assert cli.json("delete-instance", iid2, "--idempotency-key", "dk")["deleted"] is True


def test_list_instances(cli):
    machine = unique("lim")
    cli.ok("put-machine", "-n", machine, "-v", "1", json.dumps(ORDER_DEF))
    ids = ["%s-%d" % (machine, i) for i in range(3)]
    for iid in ids:
        cli.ok("create-instance", "-m", machine, "-V", "1", "-i", iid)
    cli.ok("apply-event", "-i", ids[1], "-e", "PAY")
    r = cli.json("list-instances", "-m", machine)
    assert [i["id"] for i in r["instances"]] == ids
    assert r["total"] == 3 and r["has_more"] is False
    out = cli.ok("list-instances", "--machine", machine)
    lines = out.split("\n")
    assert re.fullmatch(r"ID +MACHINE +VERSION +STATE +UPDATED_AT", lines[0]), out
    for line, iid in zip(lines[1:4], ids):
        state = "paid" if iid == ids[1] else "created"
        assert re.fullmatch(r"%s +%s +1 +%s +%s" % (re.escape(iid), machine, state, TIMESTAMP_RE),
                            line), out
    assert lines[4:] == ["3 of 3", ""]
    # All columns line up.
    assert len({line.index("MACHINE") if i == 0 else line.index(machine, len(ids[0]))
                for i, line in enumerate(lines[:4])}) == 1
    paged = cli.json("list-instances", "-m", machine, "--limit", "1", "--offset", "1")
    assert [i["id"] for i in paged["instances"]] == [ids[1]] and paged["has_more"] is True
    assert cli.ok("list-instances", "-m", machine, "--limit", "1", "--offset", "1").endswith(
        "\n1 of 3\n")
    paid = cli.json("list-instances", "-m", machine, "--state", "paid")
    assert [i["id"] for i in paid["instances"]] == [ids[1]]


def test_snapshot_instance(cli, order):
    iid = unique("snap")
    created = cli.json("create-instance", "-m", "order", "-V", "1", "-i", iid)
    r = cli.json("snapshot-instance", iid)
    assert r["instance_id"] == iid and r["snapshot_id"].startswith("snap-")
    assert r["wal_offset"] == created["wal_offset"]
    out = cli.ok("snapshot-instance", iid)
    assert re.fullmatch(r"Created snapshot snap-[0-9a-f-]{36} of instance %s\n  WAL offset: %d\n"
                        r"  Size: \d+ B\n  Checksum: [0-9a-f]{8}\n"
                        % (re.escape(iid), created["wal_offset"]), out), out
    assert "INSTANCE_NOT_FOUND" in cli.fails("snapshot-instance", "nope").err


def test_wal_read(server_factory, tmp_path):
    srv = server_factory()
    cli = Cli(srv.host, srv.port, tmp_path)
    cli.ok("put-machine", "-n", "order", "-v", "1", json.dumps(ORDER_DEF))
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", "o-1")
    cli.ok("apply-event", "-i", "o-1", "-e", "PAY")
    assert cli.ok("wal-read", "-f", "0", "-l", "5") == (
        "[     1]            1 | put_machine\n"
        "[     2]            2 | create_instance\n"
        "         Instance: o-1, Machine: order v1\n"
        "[     3]            3 | apply_event\n"
        "         Instance: o-1, Event: PAY, created \u2192 paid\n"
        "\nNext offset: 4\n")
    r = cli.json("wal-read", "--from", "2", "--limit", "1")
    assert [rec["offset"] for rec in r["records"]] == [2] and r["next_offset"] == 3
    assert cli.ok("wal-read", "-f", "100") == "No WAL entries\n"


def test_wal_stats(cli, order):
    r = cli.json("wal-stats")
    assert r["latest_offset"] >= 1 and r["entry_count"] == r["latest_offset"]
    out = cli.ok("wal-stats")
    assert out.startswith("WAL Statistics\n  Entries: ")
    assert "\n  Latest offset: " in out and "\nI/O Statistics\n  Bytes written: " in out


def test_compact(cli, order):
    r = cli.json("compact", "--force")
    assert set(r) >= {"snapshots_created", "segments_deleted", "bytes_reclaimed",
                      "total_snapshots", "wal_segments"}
    out = cli.ok("compact", "-f")
    assert re.fullmatch(r"Compaction complete\n  Snapshots created: \d+\n  WAL segments deleted: "
                        r"\d+\n  Bytes reclaimed: [0-9.]+ (B|KB|MB|GB)\n  ---\n  Total snapshots: "
                        r"\d+\n  WAL segments remaining: \d+\n", out), out


def test_batch_best_effort_and_atomic(cli, order, tmp_path):
    iid = unique("b")
    ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": iid, "machine": "order", "version": 1}},
           {"op": "APPLY_EVENT", "params": {"instance_id": iid, "event": "SHIP"}},
           {"op": "APPLY_EVENT", "params": {"instance_id": iid, "event": "PAY"}}]
    f = tmp_path / "ops.json"
    f.write_text(json.dumps(ops))
    r = cli("batch", str(f))
    assert r.rc == 1, r
    lines = r.out.split("\n")
    assert lines[0] == "Batch (best_effort): 3 operations, 2 ok, 1 failed"
    assert lines[1].startswith("  [0] ok CREATE_INSTANCE {\"instance_id\":\"%s\"" % iid)
    assert lines[2] == ("  [1] error APPLY_EVENT INVALID_TRANSITION - invalid transition: "
                        "cannot apply 'SHIP' in state 'created'")
    assert lines[3].startswith("  [2] ok APPLY_EVENT {\"from_state\":\"created\"")
    assert r.err == "Error: 1 of 3 batch operations failed\n"
    iid2 = unique("b")
    good = [{"op": "CREATE_INSTANCE", "params": {"instance_id": iid2, "machine": "order", "version": 1}},
            {"op": "GET_INSTANCE", "params": {"instance_id": iid2}}]
    f.write_text(json.dumps(good))
    res = cli.json("batch", "--atomic", str(f))
    assert [x["status"] for x in res["results"]] == ["ok", "ok"]
    assert res["results"][1]["result"]["state"] == "created"


def test_batch_atomic_failure_commits_nothing(cli, order, tmp_path):
    iid = unique("ba")
    ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": iid, "machine": "order", "version": 1}},
           {"op": "APPLY_EVENT", "params": {"instance_id": "o-404", "event": "PAY"}}]
    f = tmp_path / "ops.json"
    f.write_text(json.dumps({"ops": ops}))
    r = cli.fails("batch", "--atomic", "@%s" % f)
    assert r.err == ("Error: server error: INSTANCE_NOT_FOUND - batch operation 1 (APPLY_EVENT) "
                     "failed: instance not found: o-404\n")
    assert "INSTANCE_NOT_FOUND" in cli.fails("get-instance", iid).err
    err = cli.fails("--json", "batch", "--atomic", str(f)).json_error()
    assert err["details"]["failed_index"] == 1
    f.write_text('{"op": "PING"}')
    assert "expected a JSON array" in cli.fails("batch", str(f)).err


def test_batch_from_stdin(cli, order):
    iid = unique("bs")
    ops = [{"op": "CREATE_INSTANCE", "params": {"instance_id": iid, "machine": "order", "version": 1}}]
    r = cli("--json", "batch", "-", input=json.dumps(ops).encode())
    assert r.rc == 0, r
    assert r.json_line()["results"][0]["result"]["instance_id"] == iid


def test_flush_all(server_factory, tmp_path):
    disabled = server_factory()
    cli = Cli(disabled.host, disabled.port, tmp_path)
    r = cli("flush-all")
    assert r.rc == 2 and "--yes" in r.err
    r = cli.fails("flush-all", "--yes")
    assert r.err == ("Error: server error: BAD_REQUEST - invalid request: FLUSH_ALL is disabled. "
                     "Set storage.allow_flush_all=true in config to enable.\n")
    enabled = server_factory(["--set", "storage.allow_flush_all=true"])
    cli = Cli(enabled.host, enabled.port, tmp_path)
    cli.ok("put-machine", "-n", "order", "-v", "1", json.dumps(ORDER_DEF))
    cli.ok("create-instance", "-m", "order", "-V", "1", "-i", "o-1")
    assert cli.ok("flush-all", "--yes") == \
        "Flushed all data: 1 instances, 1 machine versions removed\n"
    assert cli.json("flush-all", "--yes") == {"flushed": True, "instances_removed": 0,
                                              "machines_removed": 0}
    assert "INSTANCE_NOT_FOUND" in cli.fails("get-instance", "o-1").err


# ---- offline, options, connections --------------------------------------------------------

def test_hash_token_is_offline(tmp_path):
    # No server anywhere near: hash-token never connects.
    r = run_cli(["-s", "127.0.0.1:1", "hash-token", TOKEN], tmp_path)
    assert (r.rc, r.out, r.err) == (0, TOKEN_HASH + "\n", "")
    r = run_cli(["hash-token", "-"], tmp_path, input=b"s3cret\n")
    assert r.out == hashlib.sha256(b"s3cret").hexdigest() + "\n"
    r = run_cli(["--json", "hash-token", "t"], tmp_path)
    assert r.json_line() == {"hash": hashlib.sha256(b"t").hexdigest()}


def test_jsonl_wire_mode(cli, order):
    assert cli.ok("--wire-mode", "jsonl", "ping") == "PONG\n"
    assert cli.json("--wire-mode", "jsonl", "get-machine", "-n", "order", "-v", "1")["version"] == 1


def test_verbose_diagnostics_never_show_the_token(cli):
    r = cli("-v", "info")
    assert r.rc == 0, r
    assert "rstmdb-cli: connecting to %s:%d" % (cli.host, cli.port) in r.err
    assert "-> HELLO id=1 " in r.err and "-> AUTH id=2 (token not shown)" in r.err
    assert "<- INFO id=3 ok" in r.err
    assert TOKEN not in r.err and TOKEN not in r.out
    assert json.loads(r.out)["server_name"] == "rstmdb"


def test_server_from_environment_and_host_names(cli):
    r = run_cli(["-t", TOKEN, "info"], cli.home, env={"RSTMDB_SERVER": "%s:%d" % (cli.host, cli.port)})
    assert r.rc == 0, r
    r = run_cli(["-s", "localhost:%d" % cli.port, "ping"], cli.home)
    assert (r.rc, r.out) == (0, "PONG\n"), r


def test_connection_refused(tmp_path, unused_port):
    r = run_cli(["-s", "127.0.0.1:%d" % unused_port, "ping"], tmp_path)
    assert r.rc == 1 and r.out == ""
    assert r.err == "Connection failed: cannot connect to 127.0.0.1:%d: Connection refused\n" % unused_port
    r = run_cli(["--json", "-s", "127.0.0.1:%d" % unused_port, "ping"], tmp_path)
    assert r.json_error()["code"] == "CONNECTION_FAILED"


def test_unresolvable_host(tmp_path):
    r = run_cli(["-s", "no-such-host.invalid:7401", "ping"], tmp_path)
    assert r.rc == 1
    assert r.err.startswith("Connection failed: cannot resolve 'no-such-host.invalid': ")


@pytest.mark.parametrize("args,needle", [
    (["frob"], "unrecognized subcommand 'frob'"),
    (["ping", "extra"], "unexpected argument 'extra'"),
    (["put-machine", "-n", "x", "{}"], "--version <VERSION>"),
    (["-s", "host:99999", "ping"], "expected host[:port]"),
    (["--timeout", "-1", "ping"], "--timeout"),
    (["create-instance", "-m", "m", "-V", "one"], "invalid value 'one'"),
])
def test_usage_errors_exit_2(tmp_path, args, needle):
    r = run_cli(args, tmp_path)
    assert r.rc == 2 and r.out == "", r
    assert r.err.startswith("error: ") and needle in r.err, r


def test_help_and_version(tmp_path):
    r = run_cli(["--help"], tmp_path)
    assert r.rc == 0 and "Usage: rstmdb-cli [OPTIONS] [COMMAND]" in r.out
    r = run_cli(["apply-event", "--help"], tmp_path)
    assert r.rc == 0 and "--expected-wal-offset <OFFSET>" in r.out
    r = run_cli(["-V"], tmp_path)
    assert r.rc == 0 and r.out.startswith("rstmdb-cli 0.1.0")


def test_no_colour_when_piped(cli):
    assert "\x1b[" not in cli.ok("list-machines")
    r = cli("ping", env={"CLICOLOR_FORCE": "1"})
    assert r.out == "\x1b[32mPONG\x1b[0m\n"


@pytest.fixture
def unused_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
