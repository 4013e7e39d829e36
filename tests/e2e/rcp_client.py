"""Minimal, strict RCP v1 client for the rstmdbd end-to-end tests (Python stdlib only).

It speaks the three framings of protocol.md §3 (RCPX, RCP1, JSONL) and is deliberately
strict about what the *server* writes: every frame header byte, the CRC32C, JSONL
compactness and the response envelope (§6.3/§6.4) are verified on receipt. Every read
has a deadline, so a test using this module cannot hang.

Encoders never validate their input: tests use them to build malformed frames.
"""

import errno
import json
import select
import socket
import ssl
import struct
import time

DEFAULT_TIMEOUT = 10.0

RCPX_MAGIC = b"RCPX"
RCP1_MAGIC = b"RCP1"
RCPX_HEADER_SIZE = 18
RCP1_HEADER_SIZE = 16

FLAG_CRC_PRESENT = 0x0001
FLAG_COMPRESSED = 0x0002
FLAG_STREAM = 0x0004
FLAG_END_STREAM = 0x0008
FLAGS_RESERVED_MASK = 0xFFF0

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024

# Exactly what the server writes in its frame headers (protocol.md §3.2, §3.3).
SERVER_RCPX_VERSION = 1
SERVER_RCPX_FLAGS = FLAG_CRC_PRESENT
SERVER_RCPX_HEADER_LEN = 0
SERVER_RCP1_FLAGS_WORD = b"\x00\x01\x00\x00"

FRAMINGS = ("rcpx", "rcp1", "jsonl")

# What INFO/HELLO advertise (protocol.md §10, §14): all five, "watch" since WATCH_* are built
# (config/features.hpp).
SERVER_FEATURES = ["idempotency", "batch", "watch", "wal_read", "jsonl"]

KNOWN_OPS = [
    "HELLO", "AUTH", "PING", "BYE", "INFO", "PUT_MACHINE", "GET_MACHINE", "LIST_MACHINES",
    "CREATE_INSTANCE", "GET_INSTANCE", "LIST_INSTANCES", "DELETE_INSTANCE", "APPLY_EVENT",
    "BATCH", "SNAPSHOT_INSTANCE", "WAL_READ", "WAL_STATS", "COMPACT", "WATCH_INSTANCE",
    "WATCH_ALL", "UNWATCH", "FLUSH_ALL",
]
SESSION_OPS = ["HELLO", "AUTH", "PING", "BYE", "INFO"]
DATA_OPS = [op for op in KNOWN_OPS if op not in SESSION_OPS]

# code -> retryable (protocol.md §6.4). Nothing else may appear on the wire.
ERROR_CODES = {
    "UNSUPPORTED_PROTOCOL": False,
    "BAD_REQUEST": False,
    "UNAUTHORIZED": False,
    "AUTH_FAILED": False,
    "NOT_FOUND": False,
    "MACHINE_NOT_FOUND": False,
    "MACHINE_VERSION_EXISTS": False,
    "MACHINE_VERSION_LIMIT_EXCEEDED": False,
    "INSTANCE_NOT_FOUND": False,
    "INSTANCE_EXISTS": False,
    "INVALID_TRANSITION": False,
    "GUARD_FAILED": False,
    "CONFLICT": False,
    "WAL_IO_ERROR": True,
    "INTERNAL_ERROR": True,
    "RATE_LIMITED": True,
}


class ProtocolError(AssertionError):
    """The server wrote something the protocol forbids (a test failure, not a client bug)."""


class ConnectionClosed(ProtocolError):
    """The server closed the connection while a message was expected."""


# --------------------------------------------------------------------------------------
# CRC32C (Castagnoli), table driven: reflected poly 0x82F63B78, init/xorout 0xFFFFFFFF.

def _make_crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data, crc=0):
    """CRC-32C of `data`; pass a previous result as `crc` to continue a running CRC."""
    table = _CRC32C_TABLE
    c = crc ^ 0xFFFFFFFF
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


# --------------------------------------------------------------------------------------
# Payloads and encoders.

def dumps(obj):
    """Compact UTF-8 JSON, keeping key order (what every existing client sends)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def to_payload(payload):
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return dumps(payload)


def make_request(op, params=None, id="1", type="request"):
    """A request envelope dict; params=None omits the key (allowed for every op)."""
    req = {}
    if type is not None:
        req["type"] = type
    req["id"] = id
    req["op"] = op
    if params is not None:
        req["params"] = params
    return req


def encode_rcpx(payload, flags=FLAG_CRC_PRESENT, version=1, extension=b"", header_len=None,
                payload_len=None, crc=None):
    """An RCPX frame. Every field can be overridden to build malformed frames.

    `header_len` defaults to len(extension); `payload_len` to len(payload); `crc` to the
    CRC32C of the payload (written even when CRC_PRESENT is clear).
    """
    payload = to_payload(payload)
    if header_len is None:
        header_len = len(extension)
    if payload_len is None:
        payload_len = len(payload)
    if crc is None:
        crc = crc32c(payload)
    header = RCPX_MAGIC + struct.pack(">HHHII", version, flags, header_len, payload_len, crc)
    return header + bytes(extension) + payload


def encode_rcp1(payload, flags_word=0, payload_len=None, crc=None, magic=RCP1_MAGIC):
    """An RCP1 legacy frame. The docs minimal client writes flags word 0."""
    payload = to_payload(payload)
    if payload_len is None:
        payload_len = len(payload)
    if crc is None:
        crc = crc32c(payload)
    return bytes(magic) + struct.pack(">III", flags_word, payload_len, crc) + payload


def encode_jsonl(payload):
    return to_payload(payload) + b"\n"


def encode(payload, framing="rcpx"):
    if framing == "rcpx":
        return encode_rcpx(payload)
    if framing == "rcp1":
        return encode_rcp1(payload)
    if framing == "jsonl":
        return encode_jsonl(payload)
    raise ValueError("unknown framing %r" % (framing,))


# --------------------------------------------------------------------------------------
# Validation of what the server writes.

def check_compact_json(text):
    """protocol.md §3.4: no insignificant whitespace; no raw control characters in strings."""
    in_string = False
    escaped = False
    for i, b in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:
                escaped = True
            elif b == 0x22:
                in_string = False
            elif b < 0x20:
                raise ProtocolError("raw control byte 0x%02x inside a JSON string at %d: %r"
                                    % (b, i, bytes(text[:200])))
        elif b == 0x22:
            in_string = True
        elif b in (0x20, 0x09, 0x0A, 0x0D):
            raise ProtocolError("insignificant whitespace at byte %d of server JSON: %r"
                                % (i, bytes(text[:200])))


def parse_server_json(payload):
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ProtocolError("server payload is not UTF-8 (%s): %r" % (e, bytes(payload[:200])))
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise ProtocolError("server payload is not JSON (%s): %r" % (e, text[:200]))
    if not isinstance(obj, dict):
        raise ProtocolError("server message is not a JSON object: %r" % (text[:200],))
    return obj


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def check_details_value(v, path):
    # The nested error object of a failed atomic BATCH carries its own boolean `retryable`
    # (operations.md §10), so booleans are allowed below the top level.
    if isinstance(v, bool) and path.endswith(".retryable"):
        return
    if isinstance(v, dict):
        for k, sub in v.items():
            check_details_value(sub, path + "." + k)
    elif not (isinstance(v, str) or _is_int(v)):
        raise ProtocolError("error.details%s must be a string, integer or object, got %r"
                            % (path, v))


def validate_response(msg):
    """Check a response envelope against protocol.md §6.3/§6.4; returns msg."""
    if msg.get("type") != "response":
        raise ProtocolError("expected a response, got %r" % (msg,))
    if not isinstance(msg.get("id"), str):
        raise ProtocolError("response id must be a JSON string: %r" % (msg,))
    if "meta" in msg:
        raise ProtocolError("server must not send 'meta': %r" % (msg,))
    status = msg.get("status")
    if status == "ok":
        if "error" in msg:
            raise ProtocolError("ok response carries 'error': %r" % (msg,))
        if not isinstance(msg.get("result"), dict):
            raise ProtocolError("ok response needs an object 'result': %r" % (msg,))
    elif status == "error":
        if "result" in msg:
            raise ProtocolError("error response carries 'result': %r" % (msg,))
        err = msg.get("error")
        if not isinstance(err, dict):
            raise ProtocolError("error response needs an object 'error': %r" % (msg,))
        code = err.get("code")
        if code not in ERROR_CODES:
            raise ProtocolError("unknown error code %r: %r" % (code, msg))
        if not isinstance(err.get("message"), str):
            raise ProtocolError("error.message must be a string: %r" % (msg,))
        if err.get("retryable") is not ERROR_CODES[code]:
            raise ProtocolError("error.retryable must be %r for %s: %r"
                                % (ERROR_CODES[code], code, msg))
        if "details" in err:
            details = err["details"]
            if not isinstance(details, dict) or not details:
                raise ProtocolError("error.details must be a non-empty object: %r" % (msg,))
            check_details_value(details, "")
        extra = set(err) - {"code", "message", "retryable", "details"}
        if extra:
            raise ProtocolError("unexpected keys %r in error object: %r" % (sorted(extra), msg))
    else:
        raise ProtocolError("status must be 'ok' or 'error': %r" % (msg,))
    return msg


def assert_ok(msg, id=None):
    validate_response(msg)
    if msg["status"] != "ok":
        raise ProtocolError("expected status ok, got %r" % (msg,))
    if id is not None and msg["id"] != id:
        raise ProtocolError("expected id %r, got %r" % (id, msg))
    return msg["result"]


def assert_error(msg, code, message=None, id=None, message_prefix=None, message_contains=None):
    validate_response(msg)
    if msg["status"] != "error":
        raise ProtocolError("expected error %s, got %r" % (code, msg))
    err = msg["error"]
    if err["code"] != code:
        raise ProtocolError("expected error code %s, got %r" % (code, msg))
    if message is not None and err["message"] != message:
        raise ProtocolError("expected message %r, got %r" % (message, msg))
    if message_prefix is not None and not err["message"].startswith(message_prefix):
        raise ProtocolError("expected message starting with %r, got %r" % (message_prefix, msg))
    if message_contains is not None and message_contains not in err["message"]:
        raise ProtocolError("expected message containing %r, got %r" % (message_contains, msg))
    if id is not None and msg["id"] != id:
        raise ProtocolError("expected id %r, got %r" % (id, msg))
    return err


# --------------------------------------------------------------------------------------
# Connection.

class Message(dict):
    """A parsed server message plus how it arrived (`framing`, `raw`, `payload`)."""
    framing = None
    raw = b""
    payload = b""


class Connection:
    """One blocking TCP connection to the server. Not thread-safe.

    `framing` is the default for send()/recv()/request(). Reads buffer internally, so
    several pipelined responses that arrive in one segment are returned one by one.
    """

    def __init__(self, host, port, framing="rcpx", timeout=DEFAULT_TIMEOUT, connect=True,
                 rcvbuf=None, ssl_context=None, server_hostname=None):
        self.host = host
        self.port = port
        # TLS: the socket is wrapped (and the handshake done) in connect(). MSG_PEEK based
        # helpers (is_closed_now, has_pending_data) look at raw bytes and are plain-only.
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.framing = framing
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False
        self.sock = None
        self._next_id = 1
        if connect:
            self.connect(rcvbuf=rcvbuf)

    # -- lifecycle ------------------------------------------------------------------
    def connect(self, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(self.timeout)
        s.connect((self.host, self.port))
        if self.ssl_context is not None:
            try:
                s = self.ssl_context.wrap_socket(s, server_hostname=self.server_hostname)
            except BaseException:
                s.close()
                raise
        self.sock = s
        return self

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def shutdown_write(self):
        """End our sending side. TLS: close_notify (TLS's end of input), then, as Python's
        unwrap() does, wait for the server's close_notify; the connection is raw afterwards
        (for expect_closed). Use it where the server is expected to send nothing more."""
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock = self.sock.unwrap()
            return
        self.sock.shutdown(socket.SHUT_WR)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def next_id(self):
        i = str(self._next_id)
        self._next_id += 1
        return i

    # -- sending ----------------------------------------------------------------------
    def send_raw(self, data, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            self.sock.sendall(bytes(data))
        finally:
            self.sock.settimeout(self.timeout)

    def send(self, payload, framing=None, id=None):
        """Send one message. A dict payload gets `id` set if given; bytes go as they are.

        Returns the id of the request (None for raw bytes).
        """
        framing = framing or self.framing
        if isinstance(payload, dict):
            payload = dict(payload)
            if id is not None:
                payload["id"] = id
            sent_id = payload.get("id")
        else:
            sent_id = id
        self.send_raw(encode(payload, framing))
        return sent_id

    # -- receiving --------------------------------------------------------------------
    def _fill(self, deadline):
        """Read more bytes into the buffer; raise ConnectionClosed on EOF/reset."""
        if self.eof:
            raise ConnectionClosed("connection already closed by the server; buffered %r"
                                   % (bytes(self.buf[:200]),))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for the server; buffered %r"
                                 % (bytes(self.buf[:200]),))
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise socket.timeout("timed out waiting for the server; buffered %r"
                                 % (bytes(self.buf[:200]),)) from None
        except (ConnectionResetError, ssl.SSLError) as e:
            self.eof = True
            raise ConnectionClosed("connection reset by the server (%s); buffered %r"
                                   % (e, bytes(self.buf[:200]))) from None
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            raise ConnectionClosed("connection closed by the server; buffered %r"
                                   % (bytes(self.buf[:200]),))
        self.buf += chunk

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_raw(self, framing=None, timeout=None):
        """Read exactly one message; return (framing, raw_bytes, payload_bytes).

        framing=None accepts whichever framing the next message uses; otherwise the next
        message must be in that framing. Header bytes and CRC are verified.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self.buf:
            self._fill(deadline)
        first = self.buf[0]
        if first == ord("R"):
            magic = self._peek(4, deadline)
            if magic == RCPX_MAGIC:
                got = "rcpx"
            elif magic == RCP1_MAGIC:
                got = "rcp1"
            else:
                raise ProtocolError("server message starts with bad magic %r" % (magic,))
        elif first == ord("{"):
            got = "jsonl"
        else:
            raise ProtocolError("server message starts with unexpected byte 0x%02x: %r"
                                % (first, bytes(self.buf[:200])))
        if framing is not None and got != framing:
            raise ProtocolError("expected a %s message from the server, got %s: %r"
                                % (framing, got, bytes(self.buf[:200])))
        if got == "rcpx":
            header = self._take(RCPX_HEADER_SIZE, deadline)
            version, flags, header_len, payload_len, crc = struct.unpack(">HHHII", header[4:])
            if version != SERVER_RCPX_VERSION:
                raise ProtocolError("server RCPX version %d != 1: %r" % (version, header))
            if flags != SERVER_RCPX_FLAGS:
                raise ProtocolError("server RCPX flags 0x%04x != 0x0001: %r" % (flags, header))
            if header_len != SERVER_RCPX_HEADER_LEN:
                raise ProtocolError("server RCPX header_len %d != 0: %r" % (header_len, header))
            if payload_len > MAX_PAYLOAD_BYTES:
                raise ProtocolError("server RCPX payload_len %d over the limit" % payload_len)
            payload = self._take(payload_len, deadline)
            if crc32c(payload) != crc:
                raise ProtocolError("server RCPX CRC 0x%08x != crc32c(payload) 0x%08x"
                                    % (crc, crc32c(payload)))
            return got, header + payload, payload
        if got == "rcp1":
            header = self._take(RCP1_HEADER_SIZE, deadline)
            if header[4:8] != SERVER_RCP1_FLAGS_WORD:
                raise ProtocolError("server RCP1 flags word %r != 00 01 00 00" % (header[4:8],))
            payload_len, crc = struct.unpack(">II", header[8:])
            if payload_len > MAX_PAYLOAD_BYTES:
                raise ProtocolError("server RCP1 payload_len %d over the limit" % payload_len)
            payload = self._take(payload_len, deadline)
            if crc32c(payload) != crc:
                raise ProtocolError("server RCP1 CRC 0x%08x != crc32c(payload) 0x%08x"
                                    % (crc, crc32c(payload)))
            return got, header + payload, payload
        # JSONL: exactly one LF terminator, no CR, compact JSON.
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                break
            if len(self.buf) > MAX_PAYLOAD_BYTES + 1:
                raise ProtocolError("server JSONL line longer than the limit")
            self._fill(deadline)
        line = self._take(nl + 1, deadline)
        payload = line[:-1]
        if payload.endswith(b"\r"):
            raise ProtocolError("server JSONL line ends with CR LF: %r" % (line[-200:],))
        check_compact_json(payload)
        return got, line, payload

    def _peek(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        return bytes(self.buf[:n])

    def recv(self, framing=None, timeout=None, any_framing=False):
        """Read one message in `framing` (default: the connection's) and parse it.

        any_framing=True accepts any framing (see Message.framing).
        """
        if any_framing:
            framing = None
        else:
            framing = framing or self.framing
        got, raw, payload = self.recv_raw(framing, timeout)
        msg = Message(parse_server_json(payload))
        msg.framing = got
        msg.raw = raw
        msg.payload = payload
        return msg

    def recv_response(self, framing=None, timeout=None, skip_events=False):
        while True:
            msg = self.recv(framing, timeout)
            if skip_events and msg.get("type") in ("event", "end"):
                continue
            return validate_response(msg)

    def request(self, op, params=None, framing=None, id=None, skip_events=False):
        """Send one request and return its validated response (id must match)."""
        if id is None:
            id = self.next_id()
        self.send(make_request(op, params, id=id), framing=framing)
        msg = self.recv_response(framing, skip_events=skip_events)
        if msg["id"] != id:
            raise ProtocolError("response id %r does not match request id %r: %r"
                                % (msg["id"], id, msg))
        return msg

    def read_ok_replies_until_close(self, ids):
        """Read responses, each of which must be ok, appending their ids to `ids`, until the
        server closes the connection. The close must be graceful: a reset may have cut off
        replies that were due."""
        while True:
            try:
                msg = self.recv_response()
            except ConnectionClosed as e:
                assert "reset" not in str(e), e
                return
            assert_ok(msg)
            ids.append(msg["id"])

    def expect_closed(self, timeout=5.0):
        """Assert the server closes the connection without writing anything (more).

        Returns the seconds waited. Data already buffered counts as "written".
        """
        start = time.monotonic()
        deadline = start + timeout
        if self.buf:
            raise ProtocolError("server wrote %r before closing" % (bytes(self.buf[:200]),))
        if self.eof:
            return 0.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProtocolError("server did not close the connection within %.1f s"
                                    % timeout)
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError):
                chunk = b""
            finally:
                if self.sock is not None:
                    self.sock.settimeout(self.timeout)
            if not chunk:
                self.eof = True
                return time.monotonic() - start
            raise ProtocolError("server wrote %r instead of closing" % (chunk[:200],))

    def _poll_tls(self, timeout):
        """TLS: read what has arrived within `timeout` into the buffer (no MSG_PEEK through
        TLS). Returns False at EOF."""
        if self.sock.pending() == 0:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return True
        self.sock.settimeout(0.0)
        try:
            chunk = self.sock.recv(1 << 20)
        except (ssl.SSLWantReadError, BlockingIOError):
            return True
        except (ConnectionResetError, ssl.SSLError):
            chunk = b""
        finally:
            self.sock.settimeout(self.timeout)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def is_closed_now(self):
        """Non-blocking: True if the server has closed (EOF/RST with no pending data)."""
        if self.eof:
            return True
        if isinstance(self.sock, ssl.SSLSocket):
            return not self._poll_tls(0) and not self.buf
        r, _, _ = select.select([self.sock], [], [], 0)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536, socket.MSG_PEEK)
        except ConnectionResetError:
            self.eof = True
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return False
            raise
        if not chunk:
            self.eof = True
            return True
        return False

    def has_pending_data(self, timeout=0.0):
        """True if the server has written bytes not yet consumed (buffered or in the socket)."""
        if self.buf:
            return True
        if self.eof:
            return False
        if isinstance(self.sock, ssl.SSLSocket):
            self._poll_tls(timeout)
            return bool(self.buf)
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            chunk = self.sock.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, ConnectionResetError):
            return False
        return bool(chunk)

    # -- session helpers ------------------------------------------------------------
    def ping(self, framing=None):
        msg = self.request("PING", framing=framing)
        result = assert_ok(msg)
        if result != {"pong": True}:
            raise ProtocolError("PING result %r != {'pong': True}" % (result,))
        return msg

    def hello(self, protocol_version=1, wire_modes=None, wire_mode=None, features=None,
              client_name="rstmdb-e2e", framing=None, extra=None):
        params = {"protocol_version": protocol_version}
        if client_name is not None:
            params["client_name"] = client_name
        if wire_modes is not None:
            params["wire_modes"] = wire_modes
        if wire_mode is not None:
            params["wire_mode"] = wire_mode
        if features is not None:
            params["features"] = features
        if extra:
            params.update(extra)
        return self.request("HELLO", params, framing=framing)

    def auth(self, token, method=None, framing=None):
        params = {"token": token}
        if method is not None:
            params = {"method": method, "token": token}
        return self.request("AUTH", params, framing=framing)


# --------------------------------------------------------------------------------------
# Payload builders for the tests.

def padded_request(size, id="1", op="PING"):
    """A compact request whose payload is exactly `size` bytes (ASCII padding in params)."""
    head = b'{"type":"request","id":' + dumps(id) + b',"op":' + dumps(op) + b',"params":{"pad":"'
    tail = b'"}}'
    n = size - len(head) - len(tail)
    if n < 0:
        raise ValueError("size %d too small" % size)
    out = head + b"x" * n + tail
    assert len(out) == size
    return out


def nested_request(depth, id="1", op="PING"):
    """A PING whose total JSON nesting depth (outer object = 1, params = 2) is `depth`."""
    arrays = depth - 2
    assert arrays >= 0
    return (b'{"type":"request","id":' + dumps(id) + b',"op":' + dumps(op)
            + b',"params":{"x":' + b"[" * arrays + b"]" * arrays + b"}}")
