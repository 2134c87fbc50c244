"""Every status the public port answers, from the real protocol and submission handler over
a StringTransport, with a fake spool writer and disk guard."""

from __future__ import annotations

import errno
import gzip
import re

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport

from appliance.receiver.protocol import Limits, ReceiverFactory
from appliance.receiver.submit import SubmissionHandler
from appliance.spool import SpoolSaturated, SpoolWriteFailed
from appliance.stats import Stats

LIMITS = Limits(max_body_bytes=1000, max_path_bytes=100, max_header_bytes=400, max_headers=8,
                max_connections=4, max_decompressed_bytes=2000, max_chunks=8)
SUBMIT = b"/submit/telemetry/0123abcd"


class FakeWriter:
    """Takes submissions into Deferreds the test fires (durable) or fails."""

    def __init__(self):
        self.failing: str | None = None
        self.saturated = False
        self.submitted: list[tuple[str, bytes]] = []
        self.pending: list[Deferred] = []

    def submit(self, path, body, received_ns, headers=None, client_ip=None) -> Deferred:
        if self.saturated:
            raise SpoolSaturated("2000 bytes waiting")
        self.submitted.append((path, body))
        d = Deferred()
        self.pending.append(d)
        return d


class FakeDisk:
    low: str | None = None


class Port:
    """One client connection to the public port."""

    def __init__(self):
        reactor = MemoryReactorClock()
        self.writer, self.disk = FakeWriter(), FakeDisk()
        self.stats = Stats(reactor.seconds)
        handler = SubmissionHandler(self.writer, self.disk, self.stats,
                                    max_decompressed_bytes=LIMITS.max_decompressed_bytes,
                                    store_client_ip=False, max_connections=4,
                                    now_ns=lambda: 1_763_000_000 * 10**9)
        self.factory = ReceiverFactory(handler, LIMITS, self.stats, reactor, idle_timeout=60)
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 4000))
        self.protocol.makeConnection(self.transport)

    def send(self, data: bytes) -> list[int]:
        """Send `data`; the statuses answered so far."""
        self.protocol.dataReceived(data)
        return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3}) ", self.transport.value())]


def post(path: bytes = SUBMIT, body: bytes = b'{"a": 1}', extra: bytes = b"",
         method: bytes = b"POST") -> bytes:
    return (b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s"
            % (method, path, len(body), extra, body))


def test_200_only_once_the_body_is_durable():
    port = Port()
    assert port.send(post()) == []
    assert port.writer.submitted == [(SUBMIT.decode(), b'{"a": 1}')]
    port.writer.pending[0].callback("record")
    assert port.send(b"") == [200]
    assert port.stats.requests_by_status[200] == 1


@pytest.mark.parametrize("request_bytes, status", [
    (post(body=b""), 400),                                         # empty body
    (post(path=b"/submit/telemetry/bad%20id"), 400),               # a path matching no form
    (post(body=b"not gzip", extra=b"Content-Encoding: gzip\r\n"), 400),
    (post(path=b"/favicon.ico"), 404),
    (post(method=b"GET"), 405),
    (post(path=b"/status"), 405),
    (b"POST %s HTTP/1.1\r\nHost: x\r\n\r\n" % SUBMIT, 411),       # no length at all
    (post(body=b"x" * 1001), 413),
    (post(body=gzip.compress(b"x" * 2001), extra=b"Content-Encoding: gzip\r\n"), 413),
    (post(path=b"/submit/telemetry/" + b"a" * 100), 414),
    (post(extra=b"X-Big: " + b"a" * 400 + b"\r\n"), 431),
    (post(extra=b"".join(b"X-%d: 1\r\n" % i for i in range(9))), 431),
])
def test_a_request_refused_before_the_spool_is_answered_at_once(request_bytes, status):
    port = Port()
    assert port.send(request_bytes) == [status]
    assert port.writer.submitted == []


def test_507_with_retry_after_when_the_disk_is_low():
    port = Port()
    port.disk.low = "disk space low: 10 bytes free"
    assert port.send(post()) == [507]
    assert b"Retry-After: 5\r\n" in port.transport.value()
    assert port.writer.submitted == []


def test_503_when_too_much_waits_for_the_disk():
    port = Port()
    port.writer.saturated = True
    assert port.send(post()) == [503]
    assert b"spool saturated" in port.transport.value()


@pytest.mark.parametrize("error, status", [
    (OSError(errno.ENOSPC, "No space left on device"), 507),
    (OSError(errno.EIO, "Input/output error"), 503),
])
def test_a_batch_that_could_not_be_synced_is_not_acknowledged(error, status):
    port = Port()
    port.send(post())
    port.writer.pending[0].errback(SpoolWriteFailed(error))
    assert port.send(b"") == [status]


@pytest.mark.logs_failures("a bug in the spool writer is logged with its traceback")
def test_an_unexpected_spool_error_is_a_503_and_logged():
    port = Port()
    port.send(post())
    port.writer.pending[0].errback(RuntimeError("bug"))
    assert port.send(b"") == [503]


def test_status_says_why_submissions_are_refused():
    port = Port()
    assert port.send(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n") == [200]
    port.writer.failing = "spool: [Errno 5] Input/output error"
    assert port.send(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n") == [200, 503]
    assert b"Input/output error" in port.transport.value()
