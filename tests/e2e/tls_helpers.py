"""Helpers for the TLS and reload end-to-end tests (test_tls*.py, test_reload.py, and the
protocol modules that also run over TLS through conftest's `transport` parameter).

Pki makes a throw-away CA (cli_helpers.CertAuthority, the openssl command) with a server
certificate for 127.0.0.1/localhost, a client certificate, and a second, unrelated CA.
start_tls_server() starts rstmdbd with tls.enabled and sets the ServerProcess's tls_client,
so that srv.connect() speaks TLS trusting the test CA.
"""

import ssl
import time

from cli_helpers import CertAuthority

SERVER_SANS = ["DNS:localhost", "IP:127.0.0.1"]


class Pki:
    def __init__(self, directory):
        self.dir = directory
        self.ca = CertAuthority(directory / "ca")
        self.rogue = CertAuthority(directory / "rogue", name="rogue CA")
        self.server = self.ca.issue("rstmdb-server", SERVER_SANS)
        self.client = self.ca.issue("client-1", client=True)
        self.rogue_client = self.rogue.issue("intruder", client=True)

    def server_args(self, mtls=False, cert=None, extra=()):
        cert_path, key_path = cert or self.server
        args = ["--set", "tls.enabled=true", "--set", "tls.cert_path=%s" % cert_path,
                "--set", "tls.key_path=%s" % key_path]
        if mtls:
            args += ["--set", "tls.require_client_cert=true",
                     "--set", "tls.client_ca_path=%s" % self.ca.cert]
        return args + list(extra)


def client_context(ca, version=None, client_cert=None):
    """A TLS client context trusting `ca` (the certificate's SAN is checked by the tests of
    rstmdb-cli; here the server is reached by address without SNI); `version` pins one
    protocol version."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(ca))
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    return ctx


def start_tls_server(factory, pki, mtls=False, extra=(), env=None):
    srv = factory(pki.server_args(mtls=mtls, extra=extra), env=env, start=False)
    srv.tls_client = client_context(pki.ca.cert, client_cert=pki.client if mtls else None)
    srv.start()
    assert "(tls)" in srv.stdout_text(), srv.output()
    return srv


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def count_lines(srv, fragment):
    return sum(1 for line in srv.stdout_text().splitlines() if fragment in line)
