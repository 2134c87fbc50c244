"""A client that does not trust the node's certificate shows up in the node's log."""

from __future__ import annotations

import socket
import ssl

import pytest

from tests.integration.serverproc import ServerProcess


def test_a_client_refusing_the_certificate_is_logged(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        untrusting = ssl.create_default_context()  # the system's CAs: not the self-signed one
        with socket.create_connection((server.host, server.port), timeout=30) as sock:
            with pytest.raises(ssl.SSLCertVerificationError):
                untrusting.wrap_socket(sock, server_hostname="localhost")
        line = server.wait_for_log("TLS handshake with 127.0.0.1 failed").string
        assert "does not trust this node's certificate" in line
    finally:
        server.stop()
