"""The 34 checks of upstream's CLI smoke script (test_commands.sh in the rstmdb repository),
performed by our own test against rstmdb-cli and a real rstmdbd with auth on: the same
commands in the same order, each expected to succeed or fail exactly as the script expects
(and, where the script greps, with the same words)."""

import json
import time

import pytest

from cli_helpers import Cli, ORDER_DEF, PAYMENT_DEF, TOKEN, TOKEN_HASH, auth_args

# (kind, name, args): kind "ok" = exit 0, "fail" = non-zero, "noauth" = exit 0 without a token,
# "authreq" = non-zero without a token and output mentioning unauthorized/authentication.
def steps(order_file, payment_file, run_id):
    o1, o2 = "order-001-%s" % run_id, "order-002-%s" % run_id
    pna, pa, pr = ("payment-not-approved-%s" % run_id, "payment-approved-%s" % run_id,
                   "payment-to-reject-%s" % run_id)
    dl = "instance-to-delete-%s" % run_id
    return [
        ("noauth", "PING without auth", ["ping"]),
        ("authreq", "INFO without auth", ["info"]),
        ("ok", "PING with auth", ["ping"]),
        ("ok", "INFO with auth", ["info"]),
        ("ok", "PUT_MACHINE order v1", ["put-machine", "-n", "order", "-v", "1", "@%s" % order_file]),
        ("ok", "PUT_MACHINE order v1 (idempotent)",
         ["put-machine", "-n", "order", "-v", "1", "@%s" % order_file]),
        ("ok", "PUT_MACHINE payment v1 (with guards)",
         ["put-machine", "-n", "payment", "-v", "1", "@%s" % payment_file]),
        ("ok", "GET_MACHINE order v1", ["get-machine", "-n", "order", "-v", "1"]),
        ("fail", "GET_MACHINE nonexistent", ["get-machine", "-n", "nonexistent", "-v", "1"]),
        ("ok", "LIST_MACHINES", ["list-machines"]),
        ("ok", "CREATE_INSTANCE order-001",
         ["create-instance", "-m", "order", "-V", "1", "-i", o1, "-c",
          '{"customer":"alice","total":99.99}']),
        ("ok", "CREATE_INSTANCE order-002 (auto ctx)", ["create-instance", "-m", "order", "-V", "1", "-i", o2]),
        ("ok", "CREATE_INSTANCE auto-id", ["create-instance", "-m", "order", "-V", "1"]),
        ("fail", "CREATE_INSTANCE duplicate", ["create-instance", "-m", "order", "-V", "1", "-i", o1]),
        ("ok", "GET_INSTANCE order-001", ["get-instance", o1]),
        ("fail", "GET_INSTANCE nonexistent", ["get-instance", "nonexistent-999"]),
        ("ok", "APPLY_EVENT PAY", ["apply-event", "-i", o1, "-e", "PAY", "-p", '{"payment_id":"pay-123"}']),
        ("ok", "GET_INSTANCE (verify paid)", ["get-instance", o1]),
        ("ok", "APPLY_EVENT SHIP", ["apply-event", "-i", o1, "-e", "SHIP"]),
        ("ok", "APPLY_EVENT DELIVER (with expected_state)",
         ["apply-event", "-i", o1, "-e", "DELIVER", "--expected-state", "shipped"]),
        ("fail", "APPLY_EVENT invalid transition", ["apply-event", "-i", o1, "-e", "PAY"]),
        ("fail", "APPLY_EVENT wrong expected_state",
         ["apply-event", "-i", o2, "-e", "PAY", "--expected-state", "paid"]),
        ("ok", "CREATE payment-not-approved",
         ["create-instance", "-m", "payment", "-V", "1", "-i", pna, "-c", '{"approved":false}']),
        ("fail", "APPROVE payment-not-approved (guard fails)", ["apply-event", "-i", pna, "-e", "APPROVE"]),
        ("ok", "CREATE payment-approved",
         ["create-instance", "-m", "payment", "-V", "1", "-i", pa, "-c", '{"approved":true}']),
        ("ok", "APPROVE payment-approved (guard passes)", ["apply-event", "-i", pa, "-e", "APPROVE"]),
        ("ok", "CREATE payment-to-reject",
         ["create-instance", "-m", "payment", "-V", "1", "-i", pr, "-c", "{}"]),
        ("ok", "REJECT payment (no guard)", ["apply-event", "-i", pr, "-e", "REJECT"]),
        ("ok", "CREATE instance-to-delete", ["create-instance", "-m", "order", "-V", "1", "-i", dl]),
        ("ok", "DELETE_INSTANCE", ["delete-instance", dl]),
        ("ok", "DELETE_INSTANCE (idempotent)", ["delete-instance", dl]),
        ("ok", "WAL_READ from 0", ["wal-read", "-f", "0", "-l", "5"]),
        ("ok", "WAL_READ with limit", ["wal-read", "-f", "0", "-l", "2"]),
        ("ok", "COMPACT (snapshot all and compact)", ["compact", "--force"]),
    ]


def test_upstream_cli_smoke_34_of_34(server_factory, tmp_path):
    srv = server_factory(auth_args(TOKEN_HASH))
    cli = Cli(srv.host, srv.port, tmp_path, token=TOKEN)
    order_file = tmp_path / "order.json"
    order_file.write_text(json.dumps(ORDER_DEF, separators=(",", ":")))
    payment_file = tmp_path / "payment.json"
    payment_file.write_text(json.dumps(PAYMENT_DEF, separators=(",", ":")))
    plan = steps(order_file, payment_file, int(time.time()))
    assert len(plan) == 34
    failures = []
    for kind, name, args in plan:
        r = cli(*args, token=kind in ("ok", "fail"))
        output = r.out + r.err
        passed = {
            "ok": r.rc == 0,
            "noauth": r.rc == 0,
            "fail": r.rc != 0,
            "authreq": r.rc != 0 and ("unauthorized" in output.lower()
                                      or "authentication" in output.lower()),
        }[kind]
        if not passed:
            failures.append("%s: %r" % (name, r))
    assert not failures, "%d of 34 failed:\n%s" % (len(failures), "\n".join(failures))
