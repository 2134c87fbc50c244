"""Real TLS handshakes with the public port: modern suites only unless configured."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.integration.serverproc import ServerProcess, read_response

CBC_SHA1 = "ECDHE-ECDSA-AES128-SHA"
CBC_SHA256 = "ECDHE-ECDSA-AES128-SHA256"


def client(server: ServerProcess, *, ciphers: str | None = None,
           version: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> ssl.SSLContext:
    ctx = server.ssl_context()
    ctx.minimum_version = ctx.maximum_version = version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


def handshake(server: ServerProcess, ctx: ssl.SSLContext) -> tuple[str, int]:
    """The negotiated suite, and the status of GET /status over it."""
    with socket.create_connection((server.host, server.port), timeout=30) as raw, \
            ctx.wrap_socket(raw, server_hostname=server.host) as sock:
        sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return sock.cipher()[0], read_response(sock).status


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = ServerProcess(tmp_path_factory.mktemp("tls") / "data").start()
    yield s
    s.stop()


@pytest.mark.parametrize("suite", [CBC_SHA1, CBC_SHA256])
def test_a_client_offering_only_cbc_suites_is_refused(server, suite):
    with pytest.raises(ssl.SSLError, match="HANDSHAKE_FAILURE|handshake failure"):
        handshake(server, client(server, ciphers=suite))


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-GCM-SHA256",
                                   "ECDHE-ECDSA-AES256-GCM-SHA384",
                                   "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_a_tls_1_2_client_with_an_aead_suite_connects(server, suite):
    assert handshake(server, client(server, ciphers=suite)) == (suite, 200)


def test_a_tls_1_3_client_connects(server):
    suite, status = handshake(server, client(server, version=ssl.TLSVersion.TLSv1_3))
    assert suite.startswith("TLS_") and status == 200


def test_the_suites_are_configurable(tmp_path):
    legacy = ServerProcess(tmp_path / "data",
                           env={"APPLIANCE_RECEIVER_TLS_CIPHERS": f"{CBC_SHA1}"}).start()
    try:
        assert handshake(legacy, client(legacy, ciphers=CBC_SHA1)) == (CBC_SHA1, 200)
        with pytest.raises(ssl.SSLError):
            handshake(legacy, client(legacy, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"))
    finally:
        assert legacy.stop() == 0
