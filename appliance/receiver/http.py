"""The public port's HTTP/1.1 server: a lean protocol with every limit enforced early.

twisted.web's generic machinery (a Request object with Headers and a BytesIO,
Content-Type parsing through the email package, resource traversal, sessions)
cost more than half of the receiver's CPU per request. This protocol parses
what a submission needs and nothing else: the request line and headers in one
pass once the head is complete, the body as a list of chunks joined once, and
the answer written as one preformatted buffer.

Every limit is checked before more than the limit is buffered: the request
line (414) and headers (431) while the head arrives, the body by its
Content-Length or, for chunked uploads, as the chunks arrive (413), and the
number of connections when one opens (503). A rejected connection gets its
answer at once, then the rest of what the client sends is read and dropped
for a moment (so the client sees the answer rather than a reset) and it is
closed. Requests on one connection are answered in order: while one waits for
the spool, later pipelined bytes are buffered (the transport is paused past
a bound) and parsed after the answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolNegotiationFactory, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from zope.interface import implementer

log = Logger()

LINGER_SECONDS = 1.0
MAX_CHUNK_LINE = 1024  # a chunk-size line with extensions
_HEAD, _BODY, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS = range(6)
_VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")


@dataclass(frozen=True)
class Limits:
    """The receiver's request limits (from `[receiver]` configuration)."""

    max_body_bytes: int
    max_path_bytes: int
    max_header_bytes: int
    max_headers: int
    max_connections: int
    max_decompressed_bytes: int


@dataclass(frozen=True, slots=True)
class Answer:
    """What the handler answers: a status, a short text message and extra headers."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    close: bool = False


class Request:
    """One complete request as the handler sees it.

    `headers` maps lower-case names to the first value (bytes, stripped);
    `body` is the whole body; `has_length` is false when the client sent
    neither Content-Length nor chunked encoding.
    """

    __slots__ = ("method", "target", "path", "headers", "body", "has_length", "started",
                 "_protocol")

    def __init__(self, method: bytes, target: bytes, headers: dict[bytes, bytes],
                 body: bytes, has_length: bool, started: float, protocol: ReceiverProtocol):
        self.method = method
        self.target = target
        self.path = target.split(b"?", 1)[0].decode("latin-1")
        self.headers = headers
        self.body = body
        self.has_length = has_length
        self.started = started
        self._protocol = protocol

    def client_ip(self) -> str:
        """The peer's address (the TCP peer: a proxy's, behind one)."""
        return self._protocol.transport.getPeer().host


def plain_response(status: int, message: str, extra: Iterable[tuple[str, str]] = (),
                   close: bool = True,
                   date: str | None = None, keep_alive: bool = False,
                   head_only: bool = False) -> bytes:
    """A complete HTTP/1.1 response with a short text body."""
    body = (message + "\n").encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    if date:
        lines.append(f"Date: {date}")
    lines += ["Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in extra]
    if close:
        lines.append("Connection: close")
    elif keep_alive:
        lines.append("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


class ReceiverProtocol(Protocol, TimeoutMixin):
    """One client connection: parse requests, hand them to the handler, answer in order."""

    factory: ReceiverFactory

    def __init__(self) -> None:
        self._buf = b""
        self._state = _HEAD
        self._body: list[bytes] = []
        self._received = 0
        self._remaining = 0
        self._busy = False  # a request is with the handler
        self._feeding = False
        self._paused = False
        self._producer = None
        self.rejected = False
        self.closing = False  # answer with Connection: close from now on (a drain)
        self._discarded = 0
        self._linger = None
        self._closed = False

    # -- connection ---------------------------------------------------------

    def connectionMade(self) -> None:
        factory = self.factory
        factory.connection_opened()
        self._limits = factory.limits
        # Answered when the request arrives: writing before a TLS handshake would
        # make the TLS layer pause this connection as a producer, stalling the handshake.
        self._over_limit = factory.open_connections > self._limits.max_connections
        self._producer = IPushProducer(self.transport, None)
        self.setTimeout(factory.idle_timeout)

    def connectionLost(self, reason=None) -> None:
        self._closed = True
        self.factory.connection_closed()
        self.setTimeout(None)
        if self._linger is not None and self._linger.active():
            self._linger.cancel()

    def callLater(self, period: float, func):
        """TimeoutMixin's scheduling, on the factory's reactor (not the global one)."""
        return self.factory.reactor.callLater(period, func)

    def timeoutConnection(self) -> None:
        self.transport.loseConnection()

    # -- input --------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.rejected:
            self._drop(data)
            return
        if self._over_limit:
            self.reject(503, "too many connections", {"Retry-After": "1"})
            return
        self.resetTimeout()
        if self._busy:
            self._buf += data
            # Pipelined requests wait; past a bound, stop reading from the socket.
            if (not self._paused and self._producer is not None
                    and len(self._buf) > self._limits.max_body_bytes):
                self._paused = True
                self._producer.pauseProducing()
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        """Parse as much of the buffered input plus `data` as the state allows."""
        buf = self._buf + data if self._buf else data
        self._buf = b""
        pos = 0
        self._feeding = True
        try:
            while not self._busy and not self.rejected:
                state = self._state
                if state == _BODY or state == _CHUNK_DATA:
                    avail = len(buf) - pos
                    if not avail:
                        break
                    take = min(avail, self._remaining)
                    self._body.append(buf if take == len(buf) else buf[pos:pos + take])
                    pos += take
                    self._remaining -= take
                    if not self._remaining:
                        if state == _BODY:
                            self._dispatch()
                        else:
                            self._state = _CHUNK_END
                elif state == _HEAD:
                    while buf.startswith(b"\r\n", pos):  # empty lines before a request
                        pos += 2
                    end = buf.find(b"\r\n\r\n", pos)
                    if end < 0:
                        self._check_partial_head(buf, pos)
                        break
                    head = buf[pos:end]
                    pos = end + 4
                    self._parse_head(head)
                else:
                    end = buf.find(b"\r\n", pos)
                    if end < 0:
                        if len(buf) - pos > MAX_CHUNK_LINE + self._limits.max_header_bytes:
                            self.reject(400, "chunked encoding line too long")
                        break
                    line = buf[pos:end]
                    pos = end + 2
                    self._chunk_line(line)
        finally:
            self._feeding = False
        if pos < len(buf) and not self.rejected:
            self._buf = buf[pos:]

    def _check_partial_head(self, buf: bytes, pos: int) -> None:
        """Refuse a head that has grown past its limits before it is complete."""
        limits = self._limits
        line_end = buf.find(b"\r\n", pos)
        if line_end < 0:
            if len(buf) - pos > limits.max_path_bytes + 64:
                self.reject(414, f"path longer than {limits.max_path_bytes} bytes")
            return
        parts = buf[pos:line_end].split(b" ")
        if len(parts) == 3 and len(parts[1]) > limits.max_path_bytes:
            self.reject(414, f"path longer than {limits.max_path_bytes} bytes")
        elif len(buf) - line_end > limits.max_header_bytes:
            self.reject(431, f"headers larger than {limits.max_header_bytes} bytes")
        elif buf.count(b"\r\n", line_end + 2) > limits.max_headers:
            self.reject(431, f"more than {limits.max_headers} header lines")

    def _parse_head(self, head: bytes) -> None:
        limits = self._limits
        lines = head.split(b"\r\n")
        request_line = lines[0]
        parts = request_line.split(b" ")
        if len(parts) == 3 and len(parts[1]) > limits.max_path_bytes:
            self.reject(414, f"path longer than {limits.max_path_bytes} bytes")
            return
        if len(head) - len(request_line) + 2 > limits.max_header_bytes:
            self.reject(431, f"headers larger than {limits.max_header_bytes} bytes")
            return
        if len(lines) - 1 > limits.max_headers:
            self.reject(431, f"more than {limits.max_headers} header lines")
            return
        if len(parts) != 3 or not parts[0] or not parts[1]:
            self.reject(400, "malformed request line")
            return
        method, target, version = parts
        if version not in _VERSIONS:
            if version.startswith(b"HTTP/"):
                self.reject(505, "HTTP/1.1 or HTTP/1.0 only")
            else:
                self.reject(400, "malformed request line")
            return
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name[-1:] in b" \t" or line[:1] in b" \t":
                self.reject(400, "malformed header line")
                return
            name = name.lower()
            value = value.strip(b" \t")
            seen = headers.get(name)
            if seen is None:
                headers[name] = value
            elif name == b"content-length" and seen != value:
                self.reject(400, "conflicting Content-Length headers")
                return
        self._method, self._target, self._version = method, target, version
        self._headers = headers
        self._started = time.perf_counter()  # the head is in: latency counts from here
        connection = headers.get(b"connection", b"").lower()
        if version == b"HTTP/1.1":
            self._keep_alive = b"close" not in connection
        else:
            self._keep_alive = b"keep-alive" in connection
        self._body = []
        self._received = 0
        encoding = headers.get(b"transfer-encoding")
        length = headers.get(b"content-length")
        if encoding is not None:
            if length is not None:
                self.reject(400, "both Content-Length and Transfer-Encoding")
                return
            if encoding.lower() != b"chunked":
                self.reject(501, "only chunked transfer encoding is supported")
                return
            self._has_length = True
            self._state = _CHUNK_SIZE
        elif length is not None:
            if not length.isdigit():
                self.reject(400, "bad Content-Length")
                return
            n = int(length)
            if n > limits.max_body_bytes:
                self.reject(413, f"body of {n} bytes is larger than the "
                                 f"{limits.max_body_bytes} allowed")
                return
            self._has_length = True
            if not n:
                self._dispatch()
                return
            self._remaining = n
            self._state = _BODY
        else:
            self._has_length = False
            self._dispatch()
            return
        expect = headers.get(b"expect")
        if expect is not None and expect.lower() == b"100-continue" and version == b"HTTP/1.1":
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _chunk_line(self, line: bytes) -> None:
        """A chunk-size line, the CRLF after a chunk's data, or a trailer line."""
        state = self._state
        if state == _CHUNK_END:
            if line:
                self.reject(400, "bad chunked encoding")
            else:
                self._state = _CHUNK_SIZE
            return
        if state == _TRAILERS:
            if not line:
                self._dispatch()
            return
        size = line.split(b";", 1)[0].strip()
        try:
            n = int(size, 16)
        except ValueError:
            n = -1
        if n < 0 or len(line) > MAX_CHUNK_LINE:
            self.reject(400, "bad chunked encoding")
            return
        if not n:
            self._state = _TRAILERS
            return
        self._received += n
        limit = self._limits.max_body_bytes
        if self._received > limit:
            self.reject(413, f"body is larger than the {limit} bytes allowed")
            return
        self._remaining = n
        self._state = _CHUNK_DATA

    # -- handing over and answering -----------------------------------------

    def _dispatch(self) -> None:
        body = self._body
        request = Request(self._method, self._target, self._headers,
                          body[0] if len(body) == 1 else b"".join(body),
                          self._has_length, self._started, self)
        self._body = []
        self._state = _HEAD
        self._busy = True
        try:
            answer = self.factory.handler(request)
        except Exception:
            log.failure("unexpected error handling a request")
            answer = Answer(500, "internal error", close=True)
        if isinstance(answer, Deferred):
            answer.addErrback(self._failed)
            answer.addCallback(self._answer, request)
        else:
            self._answer(answer, request)

    @staticmethod
    def _failed(failure) -> Answer:
        log.failure("unexpected error handling a request", failure)
        return Answer(500, "internal error", close=True)

    @property
    def idle(self) -> bool:
        """Between requests: nothing received that is not answered yet."""
        return not self._busy and self._state == _HEAD and not self._buf and not self.rejected

    def _answer(self, answer: Answer, request: Request) -> None:
        factory = self.factory
        factory.count(answer.status, request.started)
        if self._closed:
            return  # the client went away; the record is durable or failed all the same
        close = answer.close or not self._keep_alive or self.closing
        self.transport.write(plain_response(
            answer.status, answer.message, answer.headers, close=close, date=factory.date(),
            keep_alive=self._version == b"HTTP/1.0", head_only=request.method == b"HEAD"))
        if close:
            self.transport.loseConnection()
            self.rejected = True  # read and drop whatever else arrives
            return
        self._busy = False
        self.resetTimeout()
        if self._paused:
            self._paused = False
            self._producer.resumeProducing()
        if not self._feeding and self._buf:
            self._feed(b"")

    def reject(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        """Answer `status` now, drop whatever else arrives, and close soon."""
        if self.rejected:
            return
        self.rejected = True
        self._buf = b""
        self._body = []
        self.factory.count(status, None)
        self.transport.write(plain_response(status, message, (extra or {}).items(),
                                            date=self.factory.date()))
        self.setTimeout(None)
        self._linger = self.factory.reactor.callLater(LINGER_SECONDS,
                                                      self.transport.loseConnection)

    def _drop(self, data: bytes) -> None:
        self._discarded += len(data)
        if self._discarded > 4 * self._limits.max_body_bytes:
            self.transport.loseConnection()


@implementer(IProtocolNegotiationFactory)
class ReceiverFactory(Factory):
    """The public port: counts connections and answers; hands requests to `handler`."""

    protocol = ReceiverProtocol
    noisy = False

    def __init__(self, handler: Callable[[Request], Answer | Deferred], limits: Limits,
                 stats, reactor, idle_timeout: float):
        self.handler = handler
        self.limits = limits
        self.stats = stats
        self.reactor = reactor
        self.idle_timeout = idle_timeout
        self.open_connections = 0
        self._date_second = -1
        self._date = ""

    def connection_opened(self) -> None:
        self.open_connections += 1
        self.stats.open_connections = self.open_connections

    def connection_closed(self) -> None:
        self.open_connections -= 1
        self.stats.open_connections = self.open_connections

    def acceptableProtocols(self) -> list[bytes]:
        """ALPN: HTTP/1.1. Without an overlap with what a client offers (curl and
        browsers offer h2 and http/1.1), Twisted fails the TLS handshake."""
        return [b"http/1.1"]

    def count(self, status: int, started: float | None) -> None:
        """Count an answer; its latency from the end of the head when known."""
        stats = self.stats
        stats.requests_by_status[status] += 1
        if started is not None:
            stats.request_latency.add(time.perf_counter() - started)

    def date(self) -> str:
        """The Date header's value, formatted once per second."""
        now = int(self.reactor.seconds())
        if now != self._date_second:
            self._date_second = now
            self._date = formatdate(now, usegmt=True)
        return self._date
