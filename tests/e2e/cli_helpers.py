"""Helpers for the rstmdb-cli end-to-end tests (test_cli_*.py).

* run_cli()/Cli: run the real CLI binary ($RSTMDB_CLI, default build/tools/cli/rstmdb-cli)
  with a clean environment, a private $HOME and a deadline, against a real rstmdbd started
  by conftest.py's fixtures.
* CertAuthority: a throw-away CA and certificates made with the openssl command.
* RcpPeer: a small RCP *test peer* (TCP or TLS, RCPX frames) for the parts of the CLI the
  real server cannot exercise yet (TLS; scripted watch streams such as `end`) or that need a misbehaving peer
  (silence, a plaintext/TLS mismatch). It answers HELLO/AUTH/PING and whatever a test
  scripts; it records what the CLI sent, the SNI name and the client certificate. It is not
  a model of rstmdbd: every test that uses it checks the CLI's side of the protocol only, and
  each such behaviour also has a test against the real server (TLS ones marked xfail with the
  reason while the server lacks TLS).
"""

import errno
import fcntl
import json
import os
import pty
import select
import signal
import socket
import ssl
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

import rcp_client as rc
from conftest import REPO_ROOT, clean_env

DEFAULT_CLI = REPO_ROOT / "build" / "tools" / "cli" / "rstmdb-cli"
CLI_TIMEOUT = 30.0

TOKEN = "my-secret-token"
TOKEN_HASH = "ea5add57437cbf20af59034d7ed17968dcc56767b41965fcc5b376d45db8b4a3"

ORDER_DEF = {"states": ["created", "paid", "shipped", "delivered", "cancelled"],
             "initial": "created",
             "transitions": [{"from": "created", "event": "PAY", "to": "paid"},
                             {"from": "created", "event": "CANCEL", "to": "cancelled"},
                             {"from": "paid", "event": "SHIP", "to": "shipped"},
                             {"from": "paid", "event": "REFUND", "to": "cancelled"},
                             {"from": "shipped", "event": "DELIVER", "to": "delivered"}]}
PAYMENT_DEF = {"states": ["pending", "approved", "rejected"], "initial": "pending",
               "transitions": [{"from": "pending", "event": "APPROVE", "to": "approved",
                                "guard": "ctx.approved"},
                               {"from": "pending", "event": "REJECT", "to": "rejected"}]}


def cli_path():
    return Path(os.environ.get("RSTMDB_CLI") or DEFAULT_CLI)


def auth_args(*hashes):
    return ["--set", "auth.required=true", "--set", "auth.token_hashes=[%s]" % ",".join(hashes)]


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "Result(rc=%r, args=%r)\n--- stdout ---\n%s--- stderr ---\n%s" % (
            self.rc, self.args, self.out, self.err)

    def json_line(self):
        """stdout as exactly one compact JSON object line."""
        lines = self.out.split("\n")
        assert len(lines) == 2 and lines[1] == "", "expected one JSON line: %r" % (self,)
        rc.check_compact_json(lines[0])
        return json.loads(lines[0])

    def json_error(self):
        lines = self.err.split("\n")
        assert len(lines) == 2 and lines[1] == "", "expected one JSON error line: %r" % (self,)
        doc = json.loads(lines[0])
        assert list(doc) == ["error"], doc
        return doc["error"]


def cli_env(home, extra=None):
    env = clean_env()
    for k in ("TERM", "NO_COLOR", "CLICOLOR_FORCE", "COLUMNS", "LINES"):
        env.pop(k, None)
    env["HOME"] = str(home)
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def run_cli(args, home, env=None, input=None, timeout=CLI_TIMEOUT):
    binary = cli_path()
    if not binary.exists():
        pytest.fail("rstmdb-cli binary not found at %s (build it, or set RSTMDB_CLI)" % binary)
    args = [str(a) for a in args]
    try:
        p = subprocess.run([str(binary)] + args, input=input, capture_output=True,
                           env=cli_env(home, env), timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("rstmdb-cli %r did not exit within %.0f s\nstdout:\n%s\nstderr:\n%s"
                    % (args, timeout, (e.stdout or b"").decode("utf-8", "replace"),
                       (e.stderr or b"").decode("utf-8", "replace")))
    return Result(args, p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8"))


class Cli:
    """The CLI pointed at one server: cli("ping"), cli.ok(...), cli.json(...), cli.fails(...)."""

    def __init__(self, host, port, home, token=None, extra=()):
        self.host, self.port, self.home = host, port, home
        self.token = token
        self.extra = list(extra)

    def base(self, token=True):
        args = ["-s", "%s:%d" % (self.host, self.port)] + self.extra
        if token and self.token is not None:
            args += ["-t", self.token]
        return args

    def __call__(self, *args, token=True, env=None, input=None, timeout=CLI_TIMEOUT):
        return run_cli(self.base(token) + list(args), self.home, env=env, input=input,
                       timeout=timeout)

    def ok(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 0, r
        assert r.err == "", r
        return r.out

    def json(self, *args, **kw):
        r = self("--json", *args, **kw)
        assert r.rc == 0, r
        assert r.err == "", r
        return r.json_line()

    def fails(self, *args, **kw):
        r = self(*args, **kw)
        assert r.rc == 1, r
        assert r.out == "", r
        return r


# --------------------------------------------------------------------------------------
# Certificates.

class CertAuthority:
    """A CA in `directory`; issue() makes a leaf certificate signed by it (EC P-256).

    The extensions are the ones strict X.509 verification insists on (Python 3.13's
    ssl.create_default_context() turns on VERIFY_X509_STRICT, which rstmdb-py inherits): the
    CA with critical basicConstraints and keyUsage keyCertSign, the leaves with keyUsage,
    extendedKeyUsage and (OpenSSL's default) subject/authority key identifiers. docs/tls.md
    gives operators the same recipe; test_tls_clients.py checks it under the strict flags."""

    def __init__(self, directory, name="rstmdb test CA"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
                      "-subj", "/CN=%s" % name, "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def _openssl(self, *args):
        p = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr.decode("utf-8", "replace")

    def issue(self, name, sans=(), client=False, days=2):
        """(cert_path, key_path) for CN=name with the given subjectAltName entries."""
        key = self.dir / ("%s.key" % name)
        csr = self.dir / ("%s.csr" % name)
        cert = self.dir / ("%s.pem" % name)
        ext = self.dir / ("%s.ext" % name)
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name)
        lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
                 "extendedKeyUsage=%s" % ("clientAuth" if client else "serverAuth")]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                      "-CAcreateserial", "-out", cert, "-days", str(days), "-extfile", ext)
        return cert, key


# --------------------------------------------------------------------------------------
# The RCP test peer.

def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError()
        buf += chunk
    return buf


def read_frame(sock):
    """One RCPX frame's payload as a dict (the CLI sends only RCPX in binary_json mode)."""
    header = _read_exact(sock, rc.RCPX_HEADER_SIZE)
    assert header[:4] == rc.RCPX_MAGIC, header
    version, flags, header_len, payload_len, crc = struct.unpack(">HHHII", header[4:])
    assert version == 1 and flags == rc.FLAG_CRC_PRESENT and header_len == 0, header
    payload = _read_exact(sock, payload_len)
    assert rc.crc32c(payload) == crc
    rc.check_compact_json(payload.decode("utf-8"))
    return json.loads(payload)


class PeerConnection:
    def __init__(self, peer, sock):
        self.peer = peer
        self.sock = sock
        self.lock = threading.Lock()

    def send(self, obj):
        with self.lock:
            self.sock.sendall(rc.encode_rcpx(obj))

    def respond(self, request, result=None, error=None):
        msg = {"type": "response", "id": request["id"]}
        if error is None:
            msg.update(status="ok", result=result if result is not None else {})
        else:
            msg.update(status="error", error=error)
        self.send(msg)


class RcpPeer:
    """A threaded RCP test peer on 127.0.0.1 (or ::1) with an ephemeral port.

    handler(conn, request) is called for every request but HELLO/AUTH/PING; it answers with
    conn.respond(...) and may conn.send(...) events. silent=True answers nothing at all.
    """

    def __init__(self, handler=None, tls_context=None, host="127.0.0.1", silent=False,
                 tokens=None):
        self.handler = handler
        self.tls_context = tls_context
        self.silent = silent
        self.tokens = tokens
        self.requests = []
        self.sni_names = []
        self.client_subjects = []
        self.handshake_errors = []
        self.closed = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(8)
        self.host = host
        self.port = self.listener.getsockname()[1]
        if tls_context is not None:
            tls_context.sni_callback = self._on_sni
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _on_sni(self, sslobj, name, ctx):
        self.sni_names.append(name)

    def _accept_loop(self):
        self.listener.settimeout(0.2)
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        sock.settimeout(20)
        try:
            if self.tls_context is not None:
                try:
                    sock = self.tls_context.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError) as e:
                    self.handshake_errors.append(str(e))
                    return
                cert = sock.getpeercert()
                if cert:
                    self.client_subjects.append(dict(x[0] for x in cert["subject"]))
            conn = PeerConnection(self, sock)
            while True:
                try:
                    req = read_frame(sock)
                except (EOFError, ConnectionError, socket.timeout, ssl.SSLError, OSError):
                    return
                self.requests.append(req)
                if self.silent:
                    continue
                op = req.get("op")
                params = req.get("params") or {}
                if op == "HELLO":
                    conn.respond(req, {"protocol_version": 1, "wire_mode": "binary_json",
                                       "server_name": "rstmdb", "server_version": "test-peer",
                                       "features": ["idempotency", "batch"]})
                elif op == "AUTH":
                    if self.tokens is None or params.get("token") in self.tokens:
                        conn.respond(req, {"authenticated": True})
                    else:
                        conn.respond(req, error={"code": "AUTH_FAILED", "retryable": False,
                                                 "message": "authentication failed: invalid token"})
                elif op == "PING":
                    conn.respond(req, {"pong": True})
                elif self.handler is not None:
                    self.handler(conn, req)
                else:
                    conn.respond(req, error={"code": "BAD_REQUEST", "retryable": False,
                                             "message": "test peer: unexpected %s" % op})
        finally:
            try:
                sock.close()
            except OSError:
                pass
            self.closed.set()

    def ops(self):
        return [r.get("op") for r in self.requests]

    def close(self):
        self._stop = True
        self.listener.close()
        self._thread.join(timeout=5)


def server_tls_context(cert, key, client_ca=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    if client_ca is not None:
        ctx.load_verify_locations(str(client_ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def start_cli(args, home, env=None):
    """The CLI as a background process (watch commands) with line-buffered pipes."""
    binary = cli_path()
    if not binary.exists():
        pytest.fail("rstmdb-cli binary not found at %s (build it, or set RSTMDB_CLI)" % binary)
    return subprocess.Popen([str(binary)] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env(home, env))


def read_line(proc, timeout=10.0):
    """The next stdout line of a background CLI, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("no line from the CLI within %.0f s (got %r)" % (timeout, buf))
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 1)
        if not chunk:
            pytest.fail("CLI stdout ended (exit %r); partial line %r; stderr:\n%s"
                        % (proc.poll(), buf, proc.stderr.read().decode("utf-8", "replace")))
        buf += chunk
    return buf.decode("utf-8")[:-1]


def stop_cli(proc, sig=signal.SIGINT, timeout=10.0):
    """Send `sig`, wait; returns (rc, remaining stdout, stderr). Kills on timeout (a failure)."""
    if proc.poll() is None and sig:
        proc.send_signal(sig)
    if proc.stdin is not None and proc.stdin.closed:
        proc.stdin = None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        pytest.fail("CLI did not exit within %.0f s of signal %d\nstderr:\n%s"
                    % (timeout, sig, err.decode("utf-8", "replace")))
    return proc.returncode, out.decode("utf-8"), err.decode("utf-8")


def read_stderr_until(proc, needle, timeout=10.0):
    """stderr of a background CLI up to and including the line containing `needle`; or, if the
    process ends first, everything it wrote (the caller checks proc.poll())."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stderr.fileno()
    target = needle.encode("utf-8")
    while True:
        nl = buf.rfind(b"\n")
        if nl >= 0 and target in buf[:nl + 1]:
            return buf.decode("utf-8", "replace")
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("CLI stderr never showed %r within %.0f s (got %r)" % (needle, timeout, buf))
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            proc.wait(timeout=10)
            return buf.decode("utf-8", "replace")
        buf += chunk


# --------------------------------------------------------------------------------------
# The REPL on a pseudo-terminal.

PROMPT = b"rstmdb> "


class Terminal:
    """rstmdb-cli on a pseudo-terminal that is its controlling terminal (so Ctrl+C is SIGINT)."""

    def __init__(self, args, env):
        binary = str(cli_path())
        if not Path(binary).exists():
            pytest.fail("rstmdb-cli binary not found at %s (build it, or set RSTMDB_CLI)" % binary)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # child
            try:
                os.execve(binary, [binary] + [str(a) for a in args], env)
            finally:
                os._exit(127)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.data = b""
        self.mark = 0
        self.status = None

    def read_some(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except OSError as e:
            if e.errno == errno.EIO:  # the child closed the terminal
                return None
            raise
        if not chunk:
            return None
        self.data += chunk
        return True

    def expect(self, needle, timeout=10.0):
        """Wait until `needle` appears after the last match; return what came before it."""
        if isinstance(needle, str):
            needle = needle.encode("utf-8")
        deadline = time.monotonic() + timeout
        while True:
            i = self.data.find(needle, self.mark)
            if i >= 0:
                before = self.data[self.mark:i]
                self.mark = i + len(needle)
                return before.decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0 or self.read_some(left) is None:
                pytest.fail("terminal never showed %r; screen so far:\n%s"
                            % (needle, self.data[self.mark:].decode("utf-8", "replace")))

    def send(self, text, editing=True):
        """Type `text`. With `editing` (the default), first wait until libedit has the terminal
        in its raw mode: a key typed while the line discipline is still canonical is handled by
        the kernel instead (^D and ^C would not reach the editor). editing=False types into
        whatever mode there is (^C during a watch, which must become SIGINT)."""
        if editing:
            self.wait_for_editor()
        os.write(self.fd, text.encode("utf-8") if isinstance(text, str) else text)

    def wait_for_editor(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            if time.monotonic() > deadline:
                pytest.fail("the REPL never put the terminal into editing mode")
            self.read_some(0.01)

    def wait(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid != 0:
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self.read_some(0.05)
        self.kill()
        pytest.fail("the REPL did not exit within %.0f s" % timeout)

    def kill(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.status = -9
        os.close(self.fd)


