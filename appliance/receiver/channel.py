"""twisted.web's HTTP channel and request, with the receiver's limits enforced early.

Every limit is checked before more than the limit is buffered: the request
line (414) and headers (431) as they arrive, the body by its Content-Length
or, for chunked uploads, as the chunks arrive (413), and the number of
connections when one opens (503). A rejected connection gets its answer
at once, then the rest of what the client sends is read and dropped for a
moment (so the client sees the answer rather than a reset) and it is closed.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from http import HTTPStatus

from twisted.web.http import HTTPChannel
from twisted.web.server import Request, Site

LINGER_SECONDS = 1.0


@dataclass(frozen=True)
class Limits:
    """The receiver's request limits (from `[receiver]` configuration)."""

    max_body_bytes: int
    max_path_bytes: int
    max_header_bytes: int
    max_headers: int
    max_connections: int
    max_decompressed_bytes: int


def plain_response(status: int, message: str, extra: dict[str, str] | None = None,
                   close: bool = True) -> bytes:
    """A complete HTTP/1.1 response with a short text body."""
    body = (message + "\n").encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
             "Content-Type: text/plain; charset=utf-8",
             f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class ReceiverRequest(Request):
    """A request whose body is kept in memory and bounded by `max_body_bytes`."""

    _parsePOSTFormSubmission = False

    def gotLength(self, length: int | None) -> None:
        self.started = time.perf_counter()  # headers are in: latency counts from here
        self.content = io.BytesIO()
        self.received_bytes = 0
        limit = self.channel.site.limits.max_body_bytes
        if length is not None and length > limit:
            self.channel.reject(413, f"body of {length} bytes is larger than the "
                                     f"{limit} allowed")

    def handleContentChunk(self, data: bytes) -> None:
        if self.channel.rejected:
            return
        self.received_bytes += len(data)
        limit = self.channel.site.limits.max_body_bytes
        if self.received_bytes > limit:
            self.channel.reject(413, f"body is larger than the {limit} bytes allowed")
            return
        self.content.write(data)


class ReceiverChannel(HTTPChannel):
    """An HTTPChannel that answers 414/431/413/503 as soon as a limit is crossed."""

    rejected = False
    _discarded = 0
    _linger = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self._at_request_line = True
        self._header_bytes = 0
        self._header_lines = 0
        limits = self.site.limits
        self.MAX_LENGTH = max(limits.max_path_bytes + 64, limits.max_header_bytes)
        self.totalHeadersSize = limits.max_path_bytes + limits.max_header_bytes + 64
        self.maxHeaders = limits.max_headers + 1
        self.site.connection_opened()
        # Answered when the request arrives: writing before a TLS handshake would
        # make the TLS layer pause this channel as a producer, stalling the handshake.
        self._over_limit = self.site.open_connections > limits.max_connections

    def connectionLost(self, reason) -> None:
        self.site.connection_closed()
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        super().connectionLost(reason)

    def reject(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        """Answer `status` now, drop whatever else arrives, and close soon."""
        if self.rejected:
            return
        self.rejected = True
        self.site.count_status(status)
        self.transport.write(plain_response(status, message, extra))
        self.setTimeout(None)
        self._linger = self.site.reactor.callLater(LINGER_SECONDS,
                                                   self.transport.loseConnection)

    # -- dropping input after a rejection -----------------------------------

    def _drop(self, data: bytes) -> None:
        self._discarded += len(data)
        if self._discarded > 4 * self.site.limits.max_body_bytes:
            self.transport.loseConnection()

    def dataReceived(self, data: bytes) -> None:
        if self._over_limit and not self.rejected:
            self.reject(503, "too many connections", {"Retry-After": "1"})
        if self.rejected:
            self._drop(data)
        else:
            super().dataReceived(data)

    def rawDataReceived(self, data: bytes) -> None:
        if self.rejected:
            self._drop(data)
        else:
            super().rawDataReceived(data)

    # -- the request line and headers ---------------------------------------

    def lineReceived(self, line: bytes) -> None:
        if self.rejected:
            return
        limits = self.site.limits
        if self._at_request_line:
            if line:
                self._at_request_line = False
                self._header_bytes = self._header_lines = 0
                parts = line.split(b" ")
                if len(parts) == 3 and len(parts[1]) > limits.max_path_bytes:
                    self.reject(414, f"path longer than {limits.max_path_bytes} bytes")
                    return
        else:
            self._header_bytes += len(line) + 2
            if line and line[:1] not in b" \t":
                self._header_lines += 1
            if self._header_bytes > limits.max_header_bytes:
                self.reject(431, f"headers larger than {limits.max_header_bytes} bytes")
                return
            if self._header_lines > limits.max_headers:
                self.reject(431, f"more than {limits.max_headers} header lines")
                return
        super().lineReceived(line)

    def lineLengthExceeded(self, line: bytes) -> None:
        if self._at_request_line:
            self.reject(414, f"path longer than {self.site.limits.max_path_bytes} bytes")
        else:
            self.reject(431, f"headers larger than {self.site.limits.max_header_bytes} bytes")

    def allHeadersReceived(self) -> None:
        request = self.requests[-1]
        self.persistent = self.checkPersistence(request, self._version)
        request.gotLength(self.length)
        if self.rejected:
            return
        expect = request.requestHeaders.getRawHeaders(b"Expect")
        if expect and expect[0].lower() == b"100-continue" and self._version == b"HTTP/1.1":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def allContentReceived(self) -> None:
        if not self.rejected:
            super().allContentReceived()

    def requestDone(self, request) -> None:
        self._at_request_line = True
        super().requestDone(request)


class ReceiverSite(Site):
    """The public port's Site: counts connections and statuses; no access log."""

    protocol = ReceiverChannel
    requestFactory = ReceiverRequest
    noisy = False

    def __init__(self, resource, limits: Limits, stats, reactor, idle_timeout: float):
        super().__init__(resource, timeout=idle_timeout, reactor=reactor)
        self.limits = limits
        self.stats = stats
        self.open_connections = 0

    def connection_opened(self) -> None:
        self.open_connections += 1
        self.stats.open_connections = self.open_connections

    def connection_closed(self) -> None:
        self.open_connections -= 1
        self.stats.open_connections = self.open_connections

    def count_status(self, status: int) -> None:
        self.stats.requests_by_status[status] += 1

    def log(self, request) -> None:
        """No per-request access log: counters and structured events instead."""
