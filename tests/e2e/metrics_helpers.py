"""Helpers for the metrics/health end-to-end tests (test_metrics.py, test_health.py,
test_access_log.py): a server with the HTTP endpoint on an ephemeral port, HTTP requests over
real TCP, and a small parser of the Prometheus text format (0.0.4) that checks the syntax of
every line it reads.
"""

import http.client
import math
import re
import socket
import time

import pytest

METRICS_ARGS = ["--set", "metrics.enabled=true", "--set", "metrics.bind_addr=127.0.0.1:0"]
METRICS_LISTEN_RE = re.compile(r"Metrics listening on 127\.0\.0\.1:(\d+) ")
HTTP_TIMEOUT = 10.0

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE_RE = re.compile(r"^(%s)(\{(.*)\})? (\S+)$" % _NAME)
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
_TYPE_RE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % _NAME)
_HELP_RE = re.compile(r"^# HELP (%s) (.*)$" % _NAME)


def metrics_port(srv):
    m = METRICS_LISTEN_RE.search(srv.stdout_text())
    assert m, "no 'Metrics listening on' line\n" + srv.output()
    return int(m.group(1))


def start_metrics_server(factory, extra_args=(), env=None):
    srv = factory(METRICS_ARGS + list(extra_args), env=env)
    srv.metrics_port = metrics_port(srv)
    return srv


def http_get(srv, path, method="GET", headers=None, timeout=HTTP_TIMEOUT):
    """(status, headers dict (lower-case names), body text) of one request on a new connection."""
    c = http.client.HTTPConnection("127.0.0.1", srv.metrics_port, timeout=timeout)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read().decode("utf-8")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def _unescape(v):
    return v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


def _labels(text):
    if not text:
        return ()
    out = []
    pos = 0
    while pos < len(text):
        m = _LABEL_RE.match(text, pos)
        assert m, "bad label set {%s}" % text
        out.append((m.group(1), _unescape(m.group(2))))
        pos = m.end()
    return tuple(sorted(out))


class Scrape:
    """One /metrics body: types[name], samples[(name, labels)] = value."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.helps = {}
        self.samples = {}
        for line in text.splitlines():
            if not line:
                continue
            if line.startswith("#"):
                t = _TYPE_RE.match(line)
                if t:
                    assert t.group(1) not in self.types, "TYPE twice: " + line
                    self.types[t.group(1)] = t.group(2)
                    continue
                h = _HELP_RE.match(line)
                assert h, "bad comment line: %r" % line
                self.helps[h.group(1)] = h.group(2)
                continue
            m = _SAMPLE_RE.match(line)
            assert m, "bad sample line: %r" % line
            value = m.group(4)
            v = {"+Inf": math.inf, "-Inf": -math.inf, "Nan": math.nan, "NaN": math.nan}.get(value)
            key = (m.group(1), _labels(m.group(3)))
            assert key not in self.samples, "sample twice: " + line
            self.samples[key] = float(value) if v is None else v

    def value(self, name, **labels):
        key = (name, tuple(sorted(labels.items())))
        assert key in self.samples, "no sample %s%r in the scrape" % (name, labels)
        return self.samples[key]

    def series(self, name):
        """{labels dict as a sorted tuple: value} of every sample named exactly `name`."""
        return {labels: v for (n, labels), v in self.samples.items() if n == name}

    def label_values(self, name, label):
        return {dict(labels).get(label) for labels in self.series(name)}

    def family_type(self, name):
        return self.types.get(name)


def scrape(srv):
    status, headers, body = http_get(srv, "/metrics")
    assert status == 200, (status, body)
    assert headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8", headers
    return Scrape(body)


def wait_for_metric(srv, predicate, what, timeout=10.0):
    """Scrapes until predicate(scrape) holds (the server updates its gauges as connections
    close, which happens after the client's close returns); fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = scrape(srv)
        if predicate(last):
            return last
        if time.monotonic() > deadline:
            # (Histogram buckets left out: they would crowd the gauges out of the message.)
            lines = [line for line in last.text.splitlines()
                     if "_bucket{" not in line and not line.startswith("#")]
            pytest.fail("%s: not reached within %.0f s\n%s" % (what, timeout, "\n".join(lines)[:6000]))
        time.sleep(0.05)


def raw_http(srv, data, timeout=HTTP_TIMEOUT):
    """Sends raw bytes, returns everything the server writes until it closes."""
    s = socket.create_connection(("127.0.0.1", srv.metrics_port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        s.close()
