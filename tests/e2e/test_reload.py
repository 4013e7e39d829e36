"""Live reload (runtime.md §5.4, §3.1 "Rotation", §3.2 "Reload"): SIGHUP and `rstmdbd reload`
(ADMIN_RELOAD) run the same reload of the file, the referenced files (secrets file, TLS
certificate, key and CA), the environment and the flags; it is validated as a whole and
swapped at once, or rejected as a whole with the old state kept.

Token rotation with live connections (a revoked session is closed after the replies due, the
new token works at once), certificate and CA rotation without dropping open connections, an
invalid reload (bad certificate, malformed secrets file, bad value) that changes nothing,
reloadable limits applied to open connections, restart-only keys named."""

import hashlib
import json
import shutil
import signal
import threading

import pytest

import rcp_client as rc
from admin_helpers import run_tool, tool_ok
from conftest import EXIT_CONFIG
from tls_helpers import Pki, client_context, count_lines, wait_for

TOKEN_OLD = "old-token-0123456789abcdef0123456789abcdef"
TOKEN_NEW = "new-token-0123456789abcdef0123456789abcdef"
TOKEN_KEPT = "kept-token-0123456789abcdef0123456789abcdef"

# Pipelined writes the revoked session sends at most (it is normally cut off after a few hundred).
MAX_STREAM = 20000

DEF = {"states": ["a", "b"], "initial": "a",
       "transitions": [{"from": "a", "event": "GO", "to": "b"}, {"from": "b", "event": "BACK", "to": "a"}]}


def sha(token):
    return hashlib.sha256(token.encode()).hexdigest()


def write_secrets(path, *tokens_and_labels):
    path.write_text("".join("%s %s\n" % (sha(t), label) for t, label in tokens_and_labels))
    path.chmod(0o640)


def status(srv):
    return json.loads(tool_ok(["status", "--data-dir", srv.data_dir]).stdout)


class Reloader:
    """Runs one reload the chosen way and waits until it has been applied or rejected."""

    def __init__(self, srv, how):
        self.srv, self.how = srv, how

    def __call__(self, expect="applied"):
        before = status(self.srv)["reloads"]
        if self.how == "sighup":
            self.srv.send_signal(signal.SIGHUP)
        else:
            p = run_tool(["reload", "--data-dir", self.srv.data_dir])
            assert p.returncode == (0 if expect == "applied" else EXIT_CONFIG), (p.returncode, p.stdout, p.stderr)
            if expect == "rejected":
                assert p.stderr.startswith("rstmdbd: reload: reload rejected: "), p.stderr
        wanted = dict(before)
        wanted[expect] += 1
        wait_for(lambda: status(self.srv)["reloads"] == wanted, what="the reload to be %s" % expect)


@pytest.fixture(params=["sighup", "tool"])
def how(request):
    return request.param


# ---- tokens -------------------------------------------------------------------------------

def test_token_rotation_with_live_connections(server_factory, tmp_path, how):
    secrets = tmp_path / "tokens"
    write_secrets(secrets, (TOKEN_OLD, "old-client"), (TOKEN_KEPT, "kept-client"))
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("auth:\n  required: true\n  secrets_file: %s\n" % secrets)
    srv = server_factory(["--config", cfg])
    reload = Reloader(srv, how)

    old = srv.connect()
    rc.assert_ok(old.auth(TOKEN_OLD))
    rc.assert_ok(old.request("PUT_MACHINE", {"machine": "m", "version": 1, "definition": DEF}))
    rc.assert_ok(old.request("CREATE_INSTANCE", {"machine": "m", "version": 1, "instance_id": "i"}))
    kept = srv.connect()
    rc.assert_ok(kept.auth(TOKEN_KEPT))

    # Step 1: add the new token. Everyone keeps working; the new token is accepted at once.
    write_secrets(secrets, (TOKEN_OLD, "old-client"), (TOKEN_KEPT, "kept-client"), (TOKEN_NEW, "new-client"))
    reload()
    old.ping()
    rc.assert_ok(old.request("GET_INSTANCE", {"instance_id": "i"}))
    with srv.connect() as c:
        rc.assert_ok(c.auth(TOKEN_NEW))
        rc.assert_ok(c.request("GET_INSTANCE", {"instance_id": "i"}))

    # Step 2: remove the old token while the old session keeps a stream of pipelined writes in
    # flight: the replies it gets are complete and in order, the writes after the revocation are
    # not served, and the server closes (no reset, no torn frame).
    write_secrets(secrets, (TOKEN_KEPT, "kept-client"), (TOKEN_NEW, "new-client"))
    ids, answered, stop = [], [], threading.Event()

    def send_stream():
        for n in range(MAX_STREAM):
            if stop.is_set():
                return
            rid = "w%d" % n
            frame = rc.encode(rc.make_request("APPLY_EVENT", {"instance_id": "i", "event": "GO" if n % 2 == 0
                                                               else "BACK"}, id=rid), "rcpx")
            ids.append(rid)
            try:
                old.sock.sendall(frame)
            except OSError:  # the server closed: what it had not read is not served
                return

    sender = threading.Thread(target=send_stream, daemon=True)
    sender.start()
    while len(answered) < 50:
        msg = old.recv_response()
        rc.assert_ok(msg)
        answered.append(msg["id"])
    reload()
    old.read_ok_replies_until_close(answered)
    stop.set()
    sender.join(10)
    assert answered == ids[:len(answered)], answered
    assert len(answered) < len(ids), "the stream ended before the revocation; nothing was in flight"
    # Whatever was answered was applied, nothing else: the instance saw exactly those events.
    with srv.connect() as c:
        rc.assert_ok(c.auth(TOKEN_NEW))
        inst = rc.assert_ok(c.request("GET_INSTANCE", {"instance_id": "i"}))
        assert inst["state"] == ("b" if len(answered) % 2 else "a"), (inst, answered)
        rc.assert_error(c.auth(TOKEN_OLD), "AUTH_FAILED", "authentication failed: invalid token")
    out = srv.stdout_text()
    assert "token of principal old-client removed by a reload; closing after the replies due" in out
    old.close()

    # The session with a token still configured is untouched; the new token works.
    kept.ping()
    rc.assert_ok(kept.request("GET_INSTANCE", {"instance_id": "i"}))
    kept.close()
    with srv.connect() as c:
        rc.assert_ok(c.auth(TOKEN_NEW))


def test_revoked_idle_session_is_closed(server_factory, tmp_path):
    """With nothing in flight the revoked session closes at once, with no bytes sent."""
    secrets = tmp_path / "tokens"
    write_secrets(secrets, (TOKEN_OLD, "old-client"))
    srv = server_factory(["--set", "auth.required=true", "--set", "auth.secrets_file=%s" % secrets])
    c = srv.connect()
    rc.assert_ok(c.auth(TOKEN_OLD))
    c.ping()
    write_secrets(secrets, (TOKEN_NEW, "new-client"))
    Reloader(srv, "sighup")()
    c.expect_closed(timeout=5)
    c.close()
    wait_for(lambda: status(srv)["connections"] == 0, what="the revoked session to be gone")


def test_invalid_secrets_file_is_rejected_and_the_old_tokens_stay(server_factory, tmp_path, how):
    secrets = tmp_path / "tokens"
    write_secrets(secrets, (TOKEN_OLD, "old-client"))
    srv = server_factory(["--set", "auth.required=true", "--set", "auth.secrets_file=%s" % secrets])
    live = srv.connect()
    rc.assert_ok(live.auth(TOKEN_OLD))
    secrets.write_text("%s new\nnot-a-hash\n" % sha(TOKEN_NEW))  # line 2 is malformed
    Reloader(srv, how)(expect="rejected")
    assert count_lines(srv, "ERROR server: reload rejected: auth.secrets_file") == 1, srv.output()
    assert count_lines(srv, "; keeping previous configuration") == 1
    live.ping()  # not revoked
    with srv.connect() as c:
        rc.assert_ok(c.auth(TOKEN_OLD))
        rc.assert_error(c.auth(TOKEN_NEW), "AUTH_FAILED")
    st = status(srv)
    assert st["last_reload"]["result"] == "rejected"
    assert st["config_generation"] == 1
    live.close()


# ---- reloadable limits and restart-only keys -------------------------------------------------

def test_reloadable_limits_reach_open_connections_and_restart_only_keys_are_named(server_factory, tmp_path):
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("network:\n  idle_timeout_secs: 300\n  max_in_flight: 64\n")
    srv = server_factory(["--config", cfg])
    c = srv.connect()
    c.ping()
    cfg.write_text("network:\n  idle_timeout_secs: 1\n  max_in_flight: 32\nauth:\n  required: true\n"
                   "  token_hashes: [\"%s\"]\n" % sha(TOKEN_NEW))
    p = tool_ok(["reload", "--data-dir", srv.data_dir])
    assert "reload applied: changed " in p.stdout
    assert "network.idle_timeout_secs" in p.stdout and "auth.required" in p.stdout
    assert "these changes take effect after a restart: network.max_in_flight" in p.stderr
    assert count_lines(srv, "reload: network.max_in_flight changed but take(s) effect only after a restart") == 1
    assert count_lines(srv, "reload applied: ") == 1
    line = next(l for l in srv.stdout_text().splitlines() if "reload applied: " in l)
    assert "network.idle_timeout_secs 300 -> 1" in line and TOKEN_NEW not in line, line
    # auth.required now on: the open, unauthenticated session must AUTH before anything else.
    rc.assert_error(c.request("INFO"), "UNAUTHORIZED")
    # The idle timeout of 1 s now applies to it.
    c.expect_closed(timeout=5)
    c.close()


# ---- TLS: certificate and CA rotation -------------------------------------------------------

def peer_fingerprint(conn):
    return hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()


def test_certificate_and_ca_rotation_keeps_open_connections(server_factory, tmp_path, how):
    pki = Pki(tmp_path / "pki")
    live_cert, live_key = tmp_path / "server.pem", tmp_path / "server.key"
    live_ca = tmp_path / "clients-ca.pem"
    shutil.copy(pki.server[0], live_cert)
    shutil.copy(pki.server[1], live_key)
    shutil.copy(pki.ca.cert, live_ca)
    srv = server_factory(["--set", "tls.enabled=true", "--set", "tls.cert_path=%s" % live_cert,
                          "--set", "tls.key_path=%s" % live_key, "--set", "tls.require_client_cert=true",
                          "--set", "tls.client_ca_path=%s" % live_ca], start=False)
    srv.tls_client = client_context(pki.ca.cert, client_cert=pki.client)
    srv.start()
    before = srv.connect()
    before.ping()
    first = peer_fingerprint(before)
    assert status(srv)["tls"]["certificate_sha256"] == first

    # Rotate the server certificate in place (new key too) and trust a second client CA.
    new_cert, new_key = pki.ca.issue("rstmdb-server-2", ["IP:127.0.0.1"], days=30)
    shutil.copy(new_cert, live_cert)
    shutil.copy(new_key, live_key)
    live_ca.write_text(pki.ca.cert.read_text() + pki.rogue.cert.read_text())
    Reloader(srv, how)()
    line = [l for l in srv.stdout_text().splitlines() if "reload applied: " in l][-1]
    assert "tls certificate sha256:" in line, line

    before.ping()  # the open connection keeps its session
    with srv.connect() as after:
        after.ping()
        second = peer_fingerprint(after)
    assert second != first
    assert status(srv)["tls"]["certificate_sha256"] == second
    with rc.Connection(srv.host, srv.port,
                       ssl_context=client_context(pki.ca.cert, client_cert=pki.rogue_client)) as c:
        c.ping()  # the second CA is trusted now
    before.ping()
    before.close()


def test_invalid_tls_material_on_reload_keeps_the_old_context(server_factory, tmp_path, how):
    pki = Pki(tmp_path / "pki")
    live_cert, live_key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(pki.server[0], live_cert)
    shutil.copy(pki.server[1], live_key)
    srv = server_factory(pki.server_args(cert=(live_cert, live_key)), start=False)
    srv.tls_client = client_context(pki.ca.cert)
    srv.start()
    with srv.connect() as c:
        fingerprint = peer_fingerprint(c)
    reload = Reloader(srv, how)
    # A key that does not match the certificate (the rotation half done).
    shutil.copy(pki.client[1], live_key)
    reload(expect="rejected")
    assert count_lines(srv, "reload rejected: tls.key_path") == 1, srv.output()
    with srv.connect() as c:
        assert peer_fingerprint(c) == fingerprint
        c.ping()
    # A certificate file that is not PEM.
    shutil.copy(pki.server[1], live_key)
    live_cert.write_text("garbage\n")
    reload(expect="rejected")
    assert count_lines(srv, "reload rejected: tls.cert_path") == 1, srv.output()
    with srv.connect() as c:
        assert peer_fingerprint(c) == fingerprint
    st = status(srv)
    assert st["reloads"]["rejected"] == 2 and st["reloads"]["applied"] == 0
    assert st["tls"]["certificate_sha256"] == fingerprint


def test_one_bad_key_rejects_the_whole_reload(server_factory, tmp_path):
    """Validated as a whole: a good token change next to a bad value changes nothing."""
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("auth:\n  required: true\n  token_hashes: [\"%s\"]\n" % sha(TOKEN_OLD))
    srv = server_factory(["--config", cfg])
    cfg.write_text("auth:\n  required: true\n  token_hashes: [\"%s\"]\nnetwork:\n  idle_timeout_secs: many\n"
                   % sha(TOKEN_NEW))
    Reloader(srv, "sighup")(expect="rejected")
    assert count_lines(srv, "reload rejected: network.idle_timeout_secs (file:%s" % cfg) == 1, srv.output()
    with srv.connect() as c:
        rc.assert_ok(c.auth(TOKEN_OLD))
    with srv.connect() as c:
        rc.assert_error(c.auth(TOKEN_NEW), "AUTH_FAILED")


def test_turning_auth_off_closes_no_session(server_factory, tmp_path):
    """Auth off with the token list emptied: nothing is checked any more, so nothing is revoked."""
    cfg = tmp_path / "rstmdb.yaml"
    cfg.write_text("auth:\n  required: true\n  token_hashes: [\"%s\"]\n" % sha(TOKEN_OLD))
    srv = server_factory(["--config", cfg])
    c = srv.connect()
    rc.assert_ok(c.auth(TOKEN_OLD))
    cfg.write_text("auth:\n  required: false\n")
    Reloader(srv, "tool")()
    c.ping()
    assert rc.assert_ok(c.request("INFO"))["auth_required"] is False
    assert status(srv)["connections"] == 1
    c.close()
