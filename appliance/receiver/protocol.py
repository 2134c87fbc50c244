"""The public port's HTTP/1.1 server: a lean protocol with every limit enforced early.

twisted.web's generic machinery (a Request object with Headers and a BytesIO,
Content-Type parsing through the email package, resource traversal, sessions)
cost more than half of the receiver's CPU per request. This protocol does
what a submission needs and nothing else: llhttp (the strict C parser of
Node.js, through httptools) parses, its callbacks collect the head into a dict
of first values and the body as a list of pieces joined once, and the answer
is written as one preformatted buffer. llhttp was measured against a
hand-written strict parser and is faster (docs/performance.md); the rules it
leaves to its user are in `strict.py`.

Every limit is checked before more than the limit is buffered: the target
(414) and the header fields (431) while the head arrives, the body by its
Content-Length or, for chunked uploads, as the chunks arrive (413, also past
`max_chunks` chunks), and the number of connections, in all and per client
address, when one opens (503). A rejected connection gets its answer at once,
then the rest of what the client sends is read and dropped for a moment (so
the client sees the answer rather than a reset) and it is closed.

Every connection has deadlines: a whole head within `head_timeout`, a whole
body within `body_timeout` plus its size at `min_body_rate`, and nothing
received for `idle_timeout`. A connection past one is aborted (its write
buffer dropped), never closed politely: a polite close waits for a client
that may never read. Requests on one connection are answered in order: while
one waits for the spool, later pipelined bytes are buffered (reading is
paused past a bound) and parsed after the answer; while the transport's write
buffer is full (a client that does not read its answers) the protocol, a
registered push producer, stops reading and answering until it drains.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Protocol as TypingProtocol
from typing import cast

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser
from OpenSSL import SSL
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IProtocolNegotiationFactory,
    IPushProducer,
    IReactorTime,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from appliance.receiver.handshakes import HandshakeFailures
from appliance.receiver.messages import Answer, Request, plain_response
from appliance.receiver.strict import SINGLE, Refused, check_head, content_length
from appliance.stats import Stats

log = Logger()

LINGER_SECONDS = 1.0
CLOSE_SECONDS = 5.0  # a closing connection whose answer is not taken by then is aborted
MAX_SKIPPED = 1024  # bytes of empty lines before a request
WIRE_BYTES_PER_CHUNK = 64  # a chunk-size line with modest extensions
TIMED_OUT = 408  # how connections aborted at a deadline are counted (no answer is sent)
_INPUT, _OUTPUT = 1, 2  # why reading is paused: pipelined input waits, answers are not read


@dataclass(frozen=True)
class Limits:
    """The receiver's request limits and deadlines (from `[receiver]` configuration)."""

    max_body_bytes: int
    max_path_bytes: int
    max_header_bytes: int
    max_headers: int
    max_connections: int
    max_decompressed_bytes: int
    max_connections_per_ip: int = 128
    max_chunks: int = 4096
    head_timeout: float = 10.0
    body_timeout: float = 30.0
    min_body_rate: float = 1024.0


class ReceiverTransport(TypingProtocol):
    """What the receiver uses of its transport: a TCP connection (or TLS over one), which
    can also be aborted and takes a push producer."""

    def getPeer(self) -> IAddress: ...
    def write(self, data: bytes) -> None: ...
    def loseConnection(self) -> None: ...
    def abortConnection(self) -> None: ...
    def registerProducer(self, producer: IPushProducer, streaming: bool) -> None: ...
    def unregisterProducer(self) -> None: ...


@implementer(IPushProducer)
class ReceiverProtocol(Protocol, TimeoutMixin):
    """One client connection: parse requests, hand them to the handler, answer in order.

    llhttp (httptools) parses; its callbacks below collect one request at a
    time and enforce the limits and rules it leaves to its user. The protocol
    is the transport's push producer of answers: the transport pauses it
    while its write buffer is over its bound, and it then stops reading and
    answering, so a client that never reads its answers costs a bounded buffer.
    """

    factory: ReceiverFactory

    @property
    def tcp(self) -> ReceiverTransport:
        """The transport (set by makeConnection, before connectionMade)."""
        # Twisted types it as an optional ITransport; the receiver's is a TCP or TLS
        # connection (tcp.Server, TLSMemoryBIOProtocol), which has all of ReceiverTransport.
        return cast(ReceiverTransport, self.transport)

    def __init__(self) -> None:
        self._buf = b""  # received while a request is with the handler, not parsed yet
        self._queue: deque[Request] = deque()  # parsed, waiting for earlier answers
        self._in_head = False  # a request has begun and its head is not complete
        self._in_body = False  # the head is in and the body is not complete
        self._wire_bytes = 0  # of the request in progress, from its second read
        self._requests_begun = 0
        self._read = b""  # the read being parsed
        self._read_starts_request = True
        self._head_reads: list[bytes] = []  # the reads holding the head in progress
        self._head_at_start = True  # it began at the start of its first read
        self._line_search_from = 0  # in this read, past the last request line checked
        self._skipped = b""  # reads before a request that llhttp skipped (line ends)
        self._busy = False  # a request is with the handler
        self._feeding = False
        self._serving = False  # in _next's loop
        self._paused = 0  # _INPUT | _OUTPUT: why reading from the socket is paused
        self._producer: IPushProducer | None = None
        self._registered = False
        self._deadline: IDelayedCall | None = None  # the head's or the body's
        self._body_started = 0.0
        self.rejected = False
        self._refusal: tuple[int, str] | None = None  # to answer once those before it are
        self.closing = False  # answer with Connection: close from now on (a drain)
        self._discarded = 0
        self._linger: IDelayedCall | None = None
        self._closed = False
        self._ip = None
        self._got_data = False

    # -- connection ---------------------------------------------------------

    def connectionMade(self) -> None:
        factory = self.factory
        self._ip = getattr(self.tcp.getPeer(), "host", None)
        # Answered when the request arrives: writing before a TLS handshake would
        # make the TLS layer pause this connection as a producer, stalling the handshake.
        self._over_limit = factory.connection_opened(self._ip)
        limits = self._limits = factory.limits
        # A body's chunk-size lines and trailers may add a little to the body's bytes.
        self._wire_limit = (limits.max_body_bytes + limits.max_header_bytes
                            + limits.max_path_bytes + WIRE_BYTES_PER_CHUNK * limits.max_chunks)
        self._parser = HttpRequestParser(self)
        self._producer = IPushProducer(self.transport, None)
        self.tcp.registerProducer(self, True)
        self._registered = True
        self.setTimeout(factory.idle_timeout)
        self._deadline = factory.reactor.callLater(self._limits.head_timeout, self._timed_out)

    def connectionLost(self, reason: Failure | None = None) -> None:
        if not self._got_data and reason is not None and reason.check(SSL.Error):
            self.factory.handshakes.failed(self._ip, reason.getErrorMessage())
        self._closed = True
        self.factory.connection_closed(self._ip)
        self.setTimeout(None)
        self._cancel_deadline()
        if self._linger is not None and self._linger.active():
            self._linger.cancel()

    def callLater(self, period: float, func: Callable[[], object]) -> IDelayedCall:
        """TimeoutMixin's scheduling, on the factory's reactor (not the global one)."""
        return self.factory.reactor.callLater(period, func)

    def timeoutConnection(self) -> None:
        self.tcp.abortConnection()

    def close(self) -> None:
        """Close once what is written is sent; abort if that takes CLOSE_SECONDS."""
        if self._closed:
            return
        self._cancel_deadline()
        if self._registered:  # a registered producer keeps a TLS connection from closing
            self._registered = False
            self.tcp.unregisterProducer()
        self.tcp.loseConnection()
        if self._linger is not None and self._linger.active():
            self._linger.cancel()
        self._linger = self.factory.reactor.callLater(CLOSE_SECONDS, self._abort)

    def _abort(self) -> None:
        if not self._closed:
            self.tcp.abortConnection()

    # -- deadlines ----------------------------------------------------------

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            if self._deadline.active():
                self._deadline.cancel()
            self._deadline = None

    def _arm_deadline(self) -> None:
        """Time a head or a body that did not arrive whole (one that did costs nothing)."""
        reactor = self.factory.reactor
        if self._in_body:
            self._body_started = reactor.seconds()
            self._deadline = reactor.callLater(self._limits.body_timeout, self._check_body_rate)
        elif self._in_head:
            self._deadline = reactor.callLater(self._limits.head_timeout, self._timed_out)

    def _timed_out(self) -> None:
        self._deadline = None
        self.factory.count(TIMED_OUT, None)
        self.tcp.abortConnection()

    def _check_body_rate(self) -> None:
        """Abort unless the body has come at `min_body_rate` since its grace period."""
        limits = self._limits
        allowed = limits.body_timeout + (self._received / limits.min_body_rate
                                         if limits.min_body_rate else 0.0)
        left = self._body_started + allowed - self.factory.reactor.seconds()
        if left <= 0:
            self._timed_out()
        else:
            self._deadline = self.factory.reactor.callLater(left, self._check_body_rate)

    # -- flow control -------------------------------------------------------

    def pauseProducing(self) -> None:
        """The write buffer is full: read and answer nothing more until it drains."""
        self._pause(_OUTPUT)

    def resumeProducing(self) -> None:
        """The write buffer has drained: go on with what is waiting, then read."""
        self._resume(_OUTPUT)
        self._next()

    def stopProducing(self) -> None:
        """The connection is going away; connectionLost does the rest."""

    def _pause(self, why: int) -> None:
        if not self._paused and self._producer is not None:
            self._producer.pauseProducing()
        self._paused |= why

    def _resume(self, why: int) -> None:
        if self._paused & why:
            self._paused &= ~why
            if not self._paused and self._producer is not None and not self._closed:
                self._producer.resumeProducing()

    # -- input --------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self._got_data = True  # over TLS: the handshake succeeded
        if self.rejected or self._refusal is not None:
            self._drop(data)
            return
        if self._over_limit:
            self.reject(503, "too many connections", {"Retry-After": "1"})
            return
        self.resetTimeout()
        if self._busy or self._queue or self._paused & _OUTPUT:
            self._buf += data
            # Pipelined requests wait; past a bound, stop reading from the socket.
            if len(self._buf) > self._limits.max_body_bytes:
                self._pause(_INPUT)
            return
        self._feed(data)
        self._next()

    def _feed(self, data: bytes) -> None:
        """Parse `data`: complete requests go to the queue."""
        within = self._in_head or self._in_body
        requests_begun = self._requests_begun
        if self._in_head:
            self._head_reads.append(data)
        self._read = data
        self._read_starts_request = not within  # until a request ends within this read
        self._line_search_from = 0
        self._feeding = True
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._refusal = (501, "protocol upgrades are not supported")
        except HttpParserError as e:
            refused = e.__context__
            if isinstance(refused, Refused):
                self._refusal = (refused.status, refused.message)
            else:
                self._refusal = (400, f"malformed request: {e}")
        finally:
            self._feeding = False
        if requests_begun != self._requests_begun or self._refusal is not None:
            return
        if within and (self._in_head or self._in_body):
            self._bound_wire_bytes(len(data))  # all of `data` is in the same request
        elif not within and self._read_starts_request:
            self._skip(data)

    def _skip(self, data: bytes) -> None:
        """Keep what llhttp skipped before a request (line ends) for the request-line
        check, which allows only CRLF pairs there."""
        self._skipped += data
        if len(self._skipped) > MAX_SKIPPED:
            self._refusal = (400, "too many empty lines before a request")

    def _bound_wire_bytes(self, n: int) -> None:
        """Count `n` more bytes of the request in progress against what it may take.

        llhttp keeps a partial header or trailer field to itself; counting every
        read that lies wholly within one request bounds that buffer (to the limit
        plus the one read in which the request began).
        """
        self._wire_bytes += n
        limits = self._limits
        if self._in_head:
            limit = limits.max_header_bytes + limits.max_path_bytes
            if self._wire_bytes > limit:
                self._refusal = (431, f"request head larger than {limit} bytes")
        elif self._wire_bytes > self._wire_limit:
            self._refusal = (413, f"request larger than {self._wire_limit} bytes")

    def _next(self) -> None:
        """Hand over the next parsed request, or parse what waited, when free to."""
        if self._serving:
            return  # an answer given at once, within the loop below: it goes on from there
        self._serving = True
        try:
            while not self._busy and not self.rejected and not self._paused & _OUTPUT:
                if self._queue:
                    self._dispatch(self._queue.popleft())
                elif self._refusal is not None:  # answered after the requests before it
                    self.reject(*self._refusal)
                elif self._buf:
                    buf, self._buf = self._buf, b""
                    self._resume(_INPUT)
                    self._feed(buf)
                else:
                    break
        finally:
            self._serving = False
        if self._deadline is None and not self._busy and not self.rejected:
            self._arm_deadline()

    # llhttp's callbacks: one request at a time, each limit as soon as it can be told

    def on_message_begin(self) -> None:
        self._requests_begun += 1
        self._in_head = True
        self._head_reads = [self._read]
        self._head_at_start = self._read_starts_request
        if self._skipped:  # reads that began no request: the head's check sees them
            self._head_reads.insert(0, self._skipped)
            self._skipped = b""
        self._wire_bytes = 0
        self._url = b""
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._header_count = 0
        self._repeated: bytes | None = None
        self._body: list[bytes] = []
        self._received = 0
        self._chunks = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        limit = self._limits.max_path_bytes
        if len(self._url) > limit:
            raise Refused(414, f"path longer than {limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        limits = self._limits
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > limits.max_header_bytes:
            raise Refused(431, f"headers larger than {limits.max_header_bytes} bytes")
        if not self._in_head:
            return  # a trailer field: counted, not kept
        self._header_count += 1
        if self._header_count > limits.max_headers:
            raise Refused(431, f"more than {limits.max_headers} header lines")
        headers = self._headers
        name = name.lower()
        if name not in headers:
            headers[name] = value.rstrip(b" \t")
        elif name in SINGLE and self._repeated is None:
            self._repeated = name

    def on_headers_complete(self) -> None:
        parser = self._parser
        headers = self._headers
        method = parser.get_method()
        version = parser.get_http_version()
        check_head(method, version, headers, self._repeated, parser.should_upgrade())
        self._check_request_line(method, version)
        self._in_head = False
        self._cancel_deadline()
        self._method, self._version = method, version
        self._started = time.perf_counter()  # the head is in: latency counts from here
        self._keep_alive = parser.should_keep_alive()
        length = headers.get(b"content-length")
        self._has_length = length is not None or b"transfer-encoding" in headers
        if length is not None:
            n = content_length(length)
            if n > self._limits.max_body_bytes:
                raise Refused(413, f"body of {n} bytes is larger than the "
                                   f"{self._limits.max_body_bytes} allowed")
            if not n:
                return
        elif not self._has_length:
            return
        self._in_body = True
        expect = headers.get(b"expect")
        if expect is not None and expect.lower() == b"100-continue" and version == "1.1":
            self.tcp.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _check_request_line(self, method: bytes, version: str) -> None:
        """Refuse a request line llhttp reads leniently (extra spaces, a bare LF before it):
        the raw head must hold it exactly as `method SP target SP version CRLF`."""
        reads = self._head_reads
        raw = reads[0] if len(reads) == 1 else b"".join(reads)
        line = b"%s %s HTTP/%s\r\n" % (method, self._url, version.encode())
        if self._head_at_start:
            at = 0
            while raw.startswith(b"\r\n", at):  # empty lines before a request
                at += 2
            if not raw.startswith(line, at):
                raise Refused(400, "malformed request line")
        else:
            # Pipelined: it began after another request within its first read. Searching
            # on from the last line found keeps a read of many requests linear. (It could
            # find the line in the previous body and miss a lenient one after it: what
            # is served is framed by llhttp all the same, so nothing can be smuggled.)
            at = raw.find(line, self._line_search_from if len(reads) == 1 else 0)
            if at < 0:
                raise Refused(400, "malformed request line")
        self._line_search_from = max(0, at + len(line) - (len(raw) - len(self._read)))

    def on_chunk_header(self) -> None:
        self._chunks += 1  # llhttp counts the last (empty) chunk too
        if self._chunks > self._limits.max_chunks + 1:
            raise Refused(413, f"more than {self._limits.max_chunks} chunks")

    def on_body(self, body: bytes) -> None:
        self._received += len(body)
        limit = self._limits.max_body_bytes
        if self._received > limit:
            raise Refused(413, f"body is larger than the {limit} bytes allowed")
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._read_starts_request = False
        body = self._body
        self._queue.append(Request(self._method, self._url, self._headers,
                                   body[0] if len(body) == 1 else b"".join(body),
                                   self._has_length, self._started, self))
        if self._deadline is not None:
            self._cancel_deadline()

    # -- handing over and answering -----------------------------------------

    def _dispatch(self, request: Request) -> None:
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
    def _failed(failure: Failure) -> Answer:
        log.failure("unexpected error handling a request", failure)
        return Answer(500, "internal error", close=True)

    @property
    def requests_begun(self) -> int:
        """How many requests began on this connection (0: none has arrived yet)."""
        return self._requests_begun

    @property
    def idle(self) -> bool:
        """Between requests: nothing received that is not answered yet."""
        return (not self._busy and not self._in_head and not self._in_body and not self._queue
                and not self._buf and not self.rejected)

    def _answer(self, answer: Answer, request: Request) -> None:
        factory = self.factory
        factory.count(answer.status, request.started)
        if self._closed:
            return  # the client went away; the record is durable or failed all the same
        close = answer.close or not self._keep_alive or self.closing
        self.tcp.write(plain_response(
            answer.status, answer.message, answer.headers, close=close, date=factory.date(),
            keep_alive=self._version == "1.0", head_only=request.method == b"HEAD"))
        if close:
            self.rejected = True  # read and drop whatever else arrives
            self._queue.clear()
            self.close()
            return
        self._busy = False
        self.resetTimeout()
        if not self._feeding:
            self._next()

    def reject(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
        """Answer `status` now, drop whatever else arrives, and close soon."""
        if self.rejected:
            return
        self.rejected = True
        self._buf = b""
        self._queue.clear()
        self._cancel_deadline()
        self.factory.count(status, None)
        self.tcp.write(plain_response(status, message, (extra or {}).items(),
                                            date=self.factory.date()))
        self.setTimeout(None)
        self._resume(_INPUT | _OUTPUT)  # read what arrives, to drop it
        self._linger = self.factory.reactor.callLater(LINGER_SECONDS, self.close)

    def _drop(self, data: bytes) -> None:
        self._discarded += len(data)
        if self._discarded > 4 * self._limits.max_body_bytes:
            self.close()


@implementer(IProtocolNegotiationFactory)
class ReceiverFactory(Factory[ReceiverProtocol]):
    """The public port: counts connections and answers; hands requests to `handler`."""

    protocol = ReceiverProtocol
    noisy = False

    def __init__(self, handler: Callable[[Request], Answer | Deferred[Answer]], limits: Limits,
                 stats: Stats, reactor: IReactorTime, idle_timeout: float):
        self.handler = handler
        self.limits = limits
        self.stats = stats
        self.reactor = reactor
        self.idle_timeout = idle_timeout
        self.open_connections = 0
        self.handshakes = HandshakeFailures(reactor.seconds)
        self._per_ip: dict[str | None, int] = {}
        self._date_second = -1
        self._date = ""

    def connection_opened(self, ip: str | None) -> bool:
        """Count a new connection from `ip`; true when it is over a connection limit."""
        self.open_connections += 1
        self.stats.open_connections = self.open_connections
        from_ip = self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        return (self.open_connections > self.limits.max_connections
                or from_ip > self.limits.max_connections_per_ip)

    def connection_closed(self, ip: str | None) -> None:
        """Count a connection from `ip` gone."""
        self.open_connections -= 1
        self.stats.open_connections = self.open_connections
        left = self._per_ip[ip] - 1
        if left:
            self._per_ip[ip] = left
        else:
            del self._per_ip[ip]

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
