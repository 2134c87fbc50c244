"""The receiver end to end: a real `appliance serve` process over real TLS sockets."""

from __future__ import annotations

import gzip
import json
import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.spool import SpoolDir, read_segment
from tests.integration.serverproc import ServerProcess, post, read_response, request

DIMS = "saved-session/Firefox/23.0/release/20130814063812"


def spooled(data_dir):
    """Every record in the data dir's spool, by body."""
    return {r.body: r for seg in SpoolDir(data_dir / "spool").all_segments()
            for r in read_segment(seg)}


@pytest.fixture
def server(tmp_path):
    srv = ServerProcess(tmp_path / "data").start()
    yield srv
    srv.stop()


def test_concurrent_submissions_to_all_forms_are_spooled_with_metadata(server):
    def submit(i: int):
        doc = json.dumps({"ver": 1, "i": i, "pad": "x" * (i * 37 % 5000)}).encode()
        path = [f"/submit/telemetry/doc-{i}/{DIMS}", f"/submit/telemetry/doc-{i}",
                f"/submit/eco/event/{i % 3 + 1}/doc-{i}"][i % 3]
        if i % 2:
            body, headers = gzip.compress(doc), {"Content-Encoding": "gzip"}
        else:
            body, headers = doc, {}
        headers.update({"User-Agent": f"test/{i}", "DNT": "1", "X-Ignored": "no"})
        method = "PUT" if i % 5 == 0 else "POST"
        return path, body, post(server, path, body, headers, method=method)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(submit, range(120)))
    assert [r.status for _, _, r in results] == [200] * 120
    server.stop()
    records = spooled(server.data_dir)
    for path, body, _ in results:
        record = records[body]
        assert record.path == path
        assert record.headers["User-Agent"].startswith("test/")
        assert record.headers["DNT"] == "1"
        assert "X-Ignored" not in record.headers
        assert record.client_ip is None
        assert (record.headers.get("Content-Encoding") == "gzip") == body.startswith(b"\x1f\x8b")
    assert len(records) == 120
    assert len({r.record_id for r in records.values()}) == 120


def test_status_and_the_errors_a_client_can_provoke(server):
    ok = request(server, b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (ok.status, ok.body) == (200, b"ok\n")
    assert post(server, "/nowhere", b"{}").status == 404
    assert post(server, "/status", b"{}").status == 405
    wrong_method = request(server, b"DELETE /submit/telemetry/abc HTTP/1.1\r\nHost: x\r\n"
                                   b"Connection: close\r\n\r\n")
    assert wrong_method.status == 405 and "POST" in wrong_method.headers["allow"]
    assert post(server, "/submit/telemetry/bad%20id", b"{}").status == 400
    assert post(server, "/submit/telemetry/abc/too/few", b"{}").status == 400
    assert post(server, f"/submit/telemetry/abc/{DIMS}/extra", b"{}").status == 400
    assert post(server, "/submit/telemetry/abc", b"").status == 400
    no_length = request(server, b"POST /submit/telemetry/abc HTTP/1.1\r\nHost: x\r\n"
                                b"Connection: close\r\n\r\n")
    assert no_length.status == 411
    not_gzip = post(server, "/submit/telemetry/abc", b"{}", {"Content-Encoding": "gzip"})
    assert not_gzip.status == 400
    bomb = gzip.compress(b"0" * (11 * 1024 * 1024))
    assert post(server, "/submit/telemetry/abc", bomb).status == 413


def test_oversize_body_is_refused_before_it_is_sent(server):
    with server.connect() as sock:
        sock.sendall(b"POST /submit/telemetry/abc HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 1048577\r\nExpect: 100-continue\r\n\r\n")
        response = read_response(sock)
    assert response.status == 413


def test_oversize_chunked_body_is_refused_as_it_arrives(server):
    with server.connect() as sock:
        sock.sendall(b"POST /submit/telemetry/abc HTTP/1.1\r\nHost: x\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"a" * 65536
        try:
            for _ in range(20):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (ConnectionError, ssl.SSLError):
            pass  # the server may close once it has answered
        response = read_response(sock)
    assert response.status == 413


def test_chunked_body_within_limits_is_accepted(server):
    body = b'{"chunked": true}'
    raw = (b"POST /submit/telemetry/chunky HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n"
           + b"%x\r\n%s\r\n" % (8, body[:8]) + b"%x\r\n%s\r\n" % (len(body) - 8, body[8:])
           + b"0\r\n\r\n")
    assert request(server, raw).status == 200
    server.stop()
    assert spooled(server.data_dir)[body].path == "/submit/telemetry/chunky"


def test_long_path_and_large_headers(server):
    long_path = "/submit/telemetry/" + "a" * 11000
    assert post(server, long_path, b"{}").status == 414
    big = post(server, "/submit/telemetry/abc", b"{}", {"X-Big": "b" * 17000})
    assert big.status == 431
    many = post(server, "/submit/telemetry/abc", b"{}", {f"X-H{i}": "v" for i in range(150)})
    assert many.status == 431


def test_tls_1_2_client_is_served_and_the_certificate_verifies(server):
    ctx = server.ssl_context()  # verifies against the generated certificate
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server.host) as sock:
            assert sock.version() == "TLSv1.2"
            sock.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).status == 200


def test_full_disk_watermark_answers_507_with_retry_after(tmp_path):
    srv = ServerProcess(tmp_path / "data",
                        env={"APPLIANCE_SPOOL_MIN_FREE_BYTES": str(1 << 62)}).start()
    try:
        response = post(srv, "/submit/telemetry/abc", b"{}")
        assert response.status == 507
        assert int(response.headers["retry-after"]) > 0
        status = request(srv, b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status.status == 503 and b"disk space low" in status.body
    finally:
        srv.stop()
    assert spooled(srv.data_dir) == {}


def test_connection_limit_answers_503(tmp_path):
    srv = ServerProcess(tmp_path / "data",
                        env={"APPLIANCE_RECEIVER_MAX_CONNECTIONS": "2"}).start()
    try:
        held = [srv.connect(), srv.connect()]
        for sock in held:  # make sure both are established server-side
            sock.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).status == 404
        with srv.connect() as third:
            third.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
            response = read_response(third)
        assert response.status == 503 and "retry-after" in response.headers
        # Health says so: every slot is taken.
        held[0].sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        status = read_response(held[0])
        assert status.status == 503 and b"connections saturated" in status.body
        for sock in held:
            sock.close()
    finally:
        srv.stop()


def test_plain_http_when_configured(tmp_path):
    srv = ServerProcess(tmp_path / "data", args=["--http"]).start()
    try:
        assert srv.scheme == "http"
        assert post(srv, "/submit/telemetry/plain", b"{}").status == 200
    finally:
        srv.stop()


def test_client_ip_is_kept_only_when_configured(tmp_path):
    srv = ServerProcess(tmp_path / "data",
                        env={"APPLIANCE_RECEIVER_STORE_CLIENT_IP": "true"}).start()
    try:
        assert post(srv, "/submit/telemetry/ip", b'{"ip": 1}').status == 200
    finally:
        srv.stop()
    assert spooled(srv.data_dir)[b'{"ip": 1}'].client_ip == "127.0.0.1"


def test_headers_that_are_not_utf8_are_kept_byte_for_byte(server):
    body = b'{"ua": "latin-1"}'
    raw = (b"POST /submit/telemetry/ua HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"User-Agent: caf\xe9 \xff\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    assert request(server, raw).status == 200
    server.stop()
    assert spooled(server.data_dir)[body].headers["User-Agent"].encode("latin-1") == \
        b"caf\xe9 \xff"


def test_many_keepalive_requests_on_one_connection(server):
    lock = threading.Lock()
    statuses = []
    with server.connect() as sock:
        for i in range(50):
            body = b'{"n": %d}' % i
            sock.sendall(b"POST /submit/telemetry/ka-%d HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (i, len(body), body))
            with lock:
                statuses.append(read_response(sock).status)
    assert statuses == [200] * 50


def test_kept_headers_are_configured_bounded_and_first_of_repeated(tmp_path):
    srv = ServerProcess(tmp_path / "data", env={
        "APPLIANCE_RECEIVER_KEEP_HEADERS": "X-Debug-ID, X-Custom"}).start()
    body = b'{"kept": 1}'
    raw = (b"POST /submit/app/metrics/1/kept HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
           b"X-Debug-ID: first\r\nX-Debug-ID: second\r\nUser-Agent: not-kept\r\n"
           b"X-Custom: " + b"c" * 5000 + b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    try:
        assert request(srv, raw).status == 200
    finally:
        srv.stop()
    assert spooled(srv.data_dir)[body].headers == {"X-Debug-ID": "first",
                                                   "X-Custom": "c" * 1024}


def test_glean_headers_are_kept_by_default(server):
    body = b'{"glean": 1}'
    glean = {"X-Debug-ID": "session-1", "X-Source-Tags": "automation,perf",
             "X-Telemetry-Agent": "Glean/71.0.0 (Python on Linux)", "X-LB-Tags": "t",
             "X-Foxsec-IP-Reputation": "90", "X-PingSender-Version": "1.0",
             "Date": "Fri, 04 Dec 2026 17:52:18 GMT", "User-Agent": "u", "DNT": "1"}
    assert post(server, "/submit/app/metrics/1/glean", body, glean).status == 200
    server.stop()
    assert spooled(server.data_dir)[body].headers == glean
