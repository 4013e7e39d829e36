"""The rstmdb-cli REPL against the real rstmdbd: fed from a pipe (no prompt, stop at the first
error) and driven in a pseudo-terminal (prompt, libedit history, tab completion, Ctrl+C,
Ctrl+D, the reconnect hint)."""

import json
import re
import time

import pytest

from cli_helpers import PROMPT, Cli, ORDER_DEF, TOKEN, TOKEN_HASH, Terminal, auth_args, cli_env

@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(auth_args(TOKEN_HASH))


@pytest.fixture
def cli(srv, tmp_path):
    c = Cli(srv.host, srv.port, tmp_path, token=TOKEN)
    c.ok("put-machine", "-n", "order", "-v", "1", json.dumps(ORDER_DEF))
    return c


def repl(cli, script, *extra):
    """The REPL with `script` on stdin (a pipe)."""
    return cli(*extra, input=script.encode("utf-8"))


# ---- from a pipe ----------------------------------------------------------------------

def test_piped_commands_print_results_without_prompt_or_banner(cli):
    r = repl(cli, "ping\nc order 1 p-1 {\"customer\": \"alice smith\"}\ng p-1\n"
                  "apply p-1 PAY {\"amount\": 5}\nd p-1\n")
    assert r.rc == 0, r
    assert r.err == ""
    lines = r.out.split("\n")
    assert lines[0] == "PONG"
    assert re.fullmatch(r"Created p-1 \(state: created, offset: \d+\)", lines[1]), r
    assert lines[2:7] == ["order v1", "  State: created", "  Context: {",
                          '  "customer": "alice smith"', "}"]
    assert re.fullmatch(r"PAY created \u2192 paid \(offset: \d+\)", lines[7]), r
    assert lines[8:] == ["Deleted p-1", ""]
    assert "rstmdb>" not in r.out and "Connected" not in r.out


def test_shell_quoting_and_one_shot_forms(cli):
    r = repl(cli, "create-instance -m order -V 1 -i q-1 -c '{\"note\": \"two  spaces\"}'\n"
                  "get-instance q-1 --json\n"
                  'list-instances --machine order --state "created"\n')
    assert r.rc == 0, r
    lines = r.out.split("\n")
    assert lines[0] == "Created instance q-1"
    got = json.loads(lines[4])
    assert got["ctx"] == {"note": "two  spaces"}
    assert any(line.startswith("q-1 ") for line in lines[5:]), r


def test_upstream_repl_commands(cli):
    r = repl(cli, "pm m2 1 {\"states\":[\"a\"],\"initial\":\"a\",\"transitions\":[]}\n"
                  "gm m2 1\nlm\nli order\nwal 1 2\nws\ninfo\nhelp\n")
    assert r.rc == 0, r
    assert re.match(r"Created m2 v1 \(checksum: [0-9a-f]{8}\)\n\{\n  \"states\": \[", r.out), r
    assert "  m2 v1 (1 states, 0 transitions)\n" in r.out
    assert "[1] put_machine\n" in r.out
    assert "WAL Statistics\n" in r.out and '"server_name": "rstmdb"' in r.out
    assert "Available commands:" in r.out


def test_first_error_stops_a_script_with_exit_1(cli):
    r = repl(cli, "ping\nget never-created\nc order 1 after-error\nping\n")
    assert r.rc == 1, r
    assert r.out == "PONG\n"
    assert r.err == "Error: server error: INSTANCE_NOT_FOUND - instance not found: never-created\n"
    # The line after the error never ran.
    assert "INSTANCE_NOT_FOUND" in cli.fails("get-instance", "after-error").err


@pytest.mark.parametrize("line,err", [
    ("frob", "Unknown command: frob. Type 'help' for help.\n"),
    ("g", "Usage: get <instance_id>\n"),
    ("c order 1 x '{", "Error: unterminated single quote\n"),
])
def test_unknown_commands_and_usage_fail_a_script(cli, line, err):
    r = repl(cli, line + "\nping\n")
    assert (r.rc, r.out, r.err) == (1, "", err), r


def test_quit_ends_a_script_early(cli):
    r = repl(cli, "ping\nquit\nfrob\n")
    assert (r.rc, r.out) == (0, "PONG\n"), r


def test_json_mode_prints_one_line_per_command(cli):
    r = repl(cli, "ping\nws\n", "--json")
    assert r.rc == 0, r
    lines = r.out.strip("\n").split("\n")
    assert json.loads(lines[0]) == {"pong": True}
    assert "latest_offset" in json.loads(lines[1])


def test_reconnect_in_a_script(cli):
    r = repl(cli, "reconnect\nping\n")
    assert r.rc == 0, r
    assert r.out == ("Closing existing connection...\nReconnecting to %s:%d...\nReconnected!\n"
                     "PONG\n" % (cli.host, cli.port))


def test_repl_needs_a_reachable_server(tmp_path):
    c = Cli("127.0.0.1", 1, tmp_path)
    r = c(input=b"ping\n")
    assert r.rc == 1 and r.out == ""
    assert r.err.startswith("Connection failed: cannot connect to 127.0.0.1:1")


# ---- in a pseudo-terminal ---------------------------------------------------------------

@pytest.fixture
def terminal(cli):
    opened = []

    def open_terminal(extra_env=None, token=True):
        env = cli_env(cli.home, dict({"TERM": "vt100", "NO_COLOR": "1"}, **(extra_env or {})))
        t = Terminal(cli.base(token=token), env)
        opened.append(t)
        return t

    yield open_terminal
    for t in opened:
        if t.status is None:
            t.kill()


def test_prompt_banner_and_ctrl_d(terminal, cli):
    t = terminal()
    banner = t.expect(PROMPT)
    assert "rstmdb CLI" in banner and "Connecting to %s:%d..." % (cli.host, cli.port) in banner
    assert "Connected!" in banner and "Type 'help' for available commands." in banner
    t.send("ping\r")
    assert "PONG" in t.expect(PROMPT)
    t.send("\x04")  # Ctrl+D on an empty line
    assert "Disconnected." in t.expect("Disconnected.") + "Disconnected."
    assert t.wait() == 0


def test_tab_completes_command_names(terminal):
    t = terminal()
    t.expect(PROMPT)
    t.send("wal-st\t")
    t.expect("ats")  # libedit redraws the completed word (cursor moves, then the new text)
    t.send("\r")
    shown = t.expect(PROMPT)
    assert "WAL Statistics" in shown and "Unknown command" not in shown
    # A unique prefix gets a space after it, so arguments can follow at once.
    t.send("get-i\tnobody\r")
    assert "instance not found: nobody" in t.expect(PROMPT)
    # Several candidates: the common prefix, then the list.
    t.send("list-\t")
    shown = t.expect(PROMPT)
    assert "list-instances" in shown and "list-machines" in shown
    t.send("\x15quit\r")  # Ctrl+U clears the line
    assert t.wait() == 0


def test_history_is_saved_and_recalled(terminal, cli):
    history = cli.home / ".rstmdb_history"
    t = terminal()
    t.expect(PROMPT)
    t.send("ping\r")
    t.expect(PROMPT)
    t.send(" info\r")  # leading space: not kept
    t.expect(PROMPT)
    t.send("hash-token hunter2\r")  # carries a token: not kept
    t.expect(PROMPT)
    t.send("ws\r")
    t.expect(PROMPT)
    t.send("quit\r")
    assert t.wait() == 0
    text = history.read_text()
    assert "ping" in text and "ws" in text
    assert "info" not in text and "hunter2" not in text
    assert oct(history.stat().st_mode & 0o777) == "0o600"

    again = terminal()
    again.expect(PROMPT)
    again.send("\x10")  # Ctrl+P: previous history line
    again.expect("quit")
    again.send("\x10")
    again.expect("ws")
    again.send("\x10")
    again.expect("ping")
    again.send("\r")
    assert "PONG" in again.expect(PROMPT)
    again.send("quit\r")
    assert again.wait() == 0


def test_history_keeps_at_most_1000_lines(terminal, cli):
    history = cli.home / ".rstmdb_history"
    t = terminal()
    t.expect(PROMPT)
    for i in range(1005):
        t.send("g h-%d --json\r" % i)
    t.expect("instance not found: h-1004", timeout=60)  # 1005 round trips, on a busy machine too
    t.expect(PROMPT)
    t.send("quit\r")
    assert t.wait() == 0
    # libedit's file: a header line, then one (vis-encoded) entry per line.
    entries = [l for l in history.read_text().split("\n")[1:] if l]
    assert len(entries) == 1000
    assert entries[-1] == "quit"
    assert entries[0].startswith("g\\040h-6\\040")  # the five oldest were dropped


def test_ctrl_c_abandons_the_line(terminal):
    t = terminal()
    t.expect(PROMPT)
    t.send("create order 1 never")
    t.expect("never")
    t.send("\x03")
    t.expect("^C")
    t.expect(PROMPT)
    t.send("ping\r")
    assert "PONG" in t.expect(PROMPT)
    t.send("quit\r")
    assert t.wait() == 0


def test_errors_do_not_end_an_interactive_session(terminal):
    t = terminal()
    t.expect(PROMPT)
    t.send("g missing\r")
    assert "Error: server error: INSTANCE_NOT_FOUND - instance not found: missing" in t.expect(PROMPT)
    t.send("frob\r")
    assert "Unknown command: frob. Type 'help' for help." in t.expect(PROMPT)
    t.send("ping\r")
    assert "PONG" in t.expect(PROMPT)
    t.send("exit\r")
    assert t.wait() == 0


def test_reopens_a_connection_the_server_closed(server_factory, tmp_path):
    srv = server_factory()
    port = srv.port
    env = cli_env(tmp_path, {"TERM": "vt100", "NO_COLOR": "1"})
    t = Terminal(["-s", "%s:%d" % (srv.host, port)], env)
    try:
        t.expect(PROMPT)
        assert srv.stop() == 0
        t.send("ping\r")
        shown = t.expect(PROMPT)
        assert "Connection closed; reconnecting to 127.0.0.1:%d..." % port in shown
        assert "Reconnect failed: cannot connect to 127.0.0.1:%d: Connection refused" % port in shown
        # A server on the same port again: the next command reconnects by itself.
        server_factory(["--bind", "127.0.0.1:%d" % port])
        t.send("ping\r")
        shown = t.expect(PROMPT)
        assert "Connection closed; reconnecting" in shown and "PONG" in shown
        t.send("q\r")
        assert t.wait() == 0
    finally:
        if t.status is None:
            t.kill()


def test_idle_timeout_close_is_reopened_in_a_script(server_factory, tmp_path):
    srv = server_factory(["--set", "network.idle_timeout_secs=1", "--log-level", "debug"])
    import subprocess
    from cli_helpers import cli_path, read_line, stop_cli
    proc = subprocess.Popen([str(cli_path()), "-s", "%s:%d" % (srv.host, srv.port)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env(tmp_path))
    proc.stdin.write(b"ping\n")
    proc.stdin.flush()
    assert read_line(proc) == "PONG"
    deadline = time.monotonic() + 15
    while "idle for 1s; closing" not in srv.stdout_text():
        assert time.monotonic() < deadline, "the server never closed the idle connection"
        time.sleep(0.05)
    proc.stdin.write(b"ping\n")
    proc.stdin.close()
    assert read_line(proc) == "PONG"
    rc, _, err = stop_cli(proc, sig=0)
    assert rc == 0, err
    assert err == "Connection closed; reconnecting to 127.0.0.1:%d...\n" % srv.port


def test_a_failed_request_shows_the_reconnect_hint(tmp_path):
    from cli_helpers import RcpPeer

    def ignore_info(conn, req):
        pass  # never answers: the CLI's request times out

    peer = RcpPeer(handler=ignore_info)
    try:
        env = cli_env(tmp_path, {"TERM": "vt100", "NO_COLOR": "1"})
        t = Terminal(["-s", "127.0.0.1:%d" % peer.port, "--timeout", "0.5"], env)
        t.expect(PROMPT)
        t.send("info\r")
        shown = t.expect(PROMPT)
        assert "Error: request timeout (no response within 0.5 s)" in shown
        assert "Hint: Use 'reconnect' command to reconnect to the server." in shown
        t.send("ping\r")
        shown = t.expect(PROMPT)
        assert "reconnecting" in shown and "PONG" in shown
        t.send("q\r")
        assert t.wait() == 0
    finally:
        peer.close()


def test_ctrl_c_abandons_a_running_command(tmp_path):
    from cli_helpers import RcpPeer

    def ignore_info(conn, req):
        pass  # never answers INFO

    peer = RcpPeer(handler=ignore_info)
    try:
        env = cli_env(tmp_path, {"TERM": "vt100", "NO_COLOR": "1"})
        t = Terminal(["-s", "127.0.0.1:%d" % peer.port], env)
        t.expect(PROMPT)
        t.send("info\r")
        deadline = time.monotonic() + 10
        while "INFO" not in peer.ops():
            assert time.monotonic() < deadline, "the REPL never sent INFO"
            t.read_some(0.01)
        t.send("\x03", editing=False)  # the command runs: the tty makes it SIGINT
        shown = t.expect(PROMPT)
        assert "Error: interrupted" in shown
        t.send("ping\r")  # the abandoned connection is replaced
        shown = t.expect(PROMPT)
        assert "reconnecting" in shown and "PONG" in shown
        t.send("q\r")
        assert t.wait() == 0
        assert peer.ops() == ["HELLO", "INFO", "HELLO", "PING"]
    finally:
        peer.close()


def test_colours_on_a_terminal(terminal):
    t = terminal(extra_env={"NO_COLOR": ""})
    t.expect(PROMPT)
    t.send("ping\r")
    assert "\x1b[32mPONG\x1b[0m" in t.expect(PROMPT)
    t.send("quit\r")
    assert t.wait() == 0
