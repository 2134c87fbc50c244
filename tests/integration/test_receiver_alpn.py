"""Clients that offer ALPN (curl, browsers: h2 and http/1.1) get HTTP/1.1 over TLS."""

from __future__ import annotations

import socket

from tests.integration.serverproc import ServerProcess, read_response


def test_a_client_offering_h2_and_http11_is_served_http11(tmp_path):
    server = ServerProcess(tmp_path / "data").start()
    try:
        ctx = server.ssl_context()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection((server.host, server.port), timeout=30) as raw, \
                ctx.wrap_socket(raw, server_hostname=server.host) as sock:
            assert sock.selected_alpn_protocol() == "http/1.1"
            sock.sendall(b"POST /submit/telemetry/alpn HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
            assert read_response(sock).status == 200
    finally:
        server.stop()
