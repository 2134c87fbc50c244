"""A small HTTP/1.1-aware TCP proxy that injects faults into S3 traffic, per request.

    proxy = FaultProxy("127.0.0.1", server.port)
    s3 = server.client(endpoint_url=proxy.endpoint)
    proxy.inject(503)                 # the next request gets 503 SlowDown from the proxy
    proxy.inject(500, method="PUT", count=2)
    proxy.truncate_upload()           # the next PUT is cut off mid-body
    proxy.requests                    # [("PUT", "/bucket/key"), ...]
    proxy.stop()

Everything not faulted is forwarded byte for byte, with one exception: `Expect:
100-continue` is answered by the proxy itself (it sends the interim 100, reads the body,
and forwards the request without the Expect header), so that an injected error can be
sent after the body was read and the client's connection stays in step.

Request bodies are delimited by Content-Length or `Transfer-Encoding: chunked` (which is
also how `aws-chunked` bodies travel); responses by Content-Length, chunked encoding, or
the close of the upstream connection. Each client connection gets its own upstream
connection, (re)opened on demand; if the upstream cannot be reached the client's
connection is closed without an answer, as a dead server would do.
"""

from __future__ import annotations

import select
import socket
import threading
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

DEFAULT_CODES = {
    400: ("BadRequest", "Bad Request"),
    403: ("AccessDenied", "Access Denied"),
    404: ("NoSuchKey", "The specified key does not exist."),
    409: ("OperationAborted", "A conflicting conditional operation is in progress."),
    429: ("SlowDown", "Please reduce your request rate."),
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad Gateway"),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway Timeout"),
}

REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}

MAX_HEAD = 64 * 1024


class _Closed(Exception):
    """The peer closed the connection (or a fault closed it on purpose)."""


@dataclass
class _Rule:
    kind: str                      # "status" or "truncate"
    count: int
    method: str | None = None
    path: str | None = None        # prefix of the request target
    status: int = 0
    code: str = ""
    message: str = ""
    close: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    after_bytes: int | None = None

    def matches(self, method: str, target: str) -> bool:
        return (self.count > 0
                and (self.method is None or self.method == method)
                and (self.path is None or target.startswith(self.path)))


@dataclass
class _Request:
    method: str
    target: str
    version: str
    head: bytes                    # request line + headers + blank line, as received
    headers: dict[str, str]        # lower-cased names; last one wins

    @property
    def expects_continue(self) -> bool:
        return self.headers.get("expect", "").lower() == "100-continue"

    @property
    def wants_close(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        return conn == "close" or (self.version == "HTTP/1.0" and conn != "keep-alive")


def _read_head(stream) -> bytes:
    """Read up to and including the blank line that ends a head; b"" at a clean EOF."""
    lines = []
    size = 0
    while True:
        line = stream.readline(MAX_HEAD)
        if not line:
            if lines:
                raise _Closed("EOF inside a message head")
            return b""
        if not lines and line in (b"\r\n", b"\n"):
            continue                       # stray CRLF between messages
        lines.append(line)
        size += len(line)
        if size > MAX_HEAD:
            raise _Closed("message head too large")
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def _parse_headers(head: bytes) -> tuple[str, dict[str, str]]:
    text = head.decode("latin-1")
    first, *rest = text.split("\r\n")
    headers = {}
    for line in rest:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return first, headers


def _strip_header(head: bytes, name: str) -> bytes:
    lines = head.split(b"\r\n")
    wanted = name.lower().encode()
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() != wanted]
    return b"\r\n".join(kept)


def _body_chunks(stream, headers: dict[str, str], *, until_close: bool = False):
    """Yield the raw bytes of a message body (framing included for chunked bodies)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = stream.readline(MAX_HEAD)
            if not size_line:
                raise _Closed("EOF inside a chunked body")
            yield size_line
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:                # trailers, then the blank line
                    line = stream.readline(MAX_HEAD)
                    if not line:
                        raise _Closed("EOF inside chunked trailers")
                    yield line
                    if line in (b"\r\n", b"\n"):
                        return
            remaining = size + 2           # data + CRLF
            while remaining:
                data = stream.read1(min(remaining, 65536))
                if not data:
                    raise _Closed("EOF inside a chunk")
                remaining -= len(data)
                yield data
    elif "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining:
            data = stream.read1(min(remaining, 65536))
            if not data:
                raise _Closed("EOF inside a body")
            remaining -= len(data)
            yield data
    elif until_close:
        while True:
            data = stream.read1(65536)
            if not data:
                return
            yield data


class FaultProxy:
    """A threaded proxy on a free 127.0.0.1 port in front of `upstream_host:upstream_port`."""

    def __init__(self, upstream_host: str, upstream_port: int, *,
                 listen_host: str = "127.0.0.1", timeout: float = 60) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.timeout = timeout
        self.requests: list[tuple[str, str]] = []
        #: the lower-cased headers of each request in `requests`, in the same order
        self.request_headers: list[dict[str, str]] = []
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._listener = socket.create_server((listen_host, 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._acceptor = threading.Thread(target=self._accept_loop, name="faultproxy-accept",
                                          daemon=True)
        self._acceptor.start()

    # ---- the test's side --------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def inject(self, status: int, count: int = 1, method: str | None = None, *,
               code: str | None = None, message: str | None = None, path: str | None = None,
               close: bool = False, headers: dict[str, str] | None = None) -> None:
        """Answer the next `count` requests matching `method` (and the request-target
        prefix `path`) with `status` and an S3 XML error `code`, without forwarding them.
        The request body is read and discarded; with `close=True` the response says
        `Connection: close` and the connection is closed after it."""
        default_code, default_message = DEFAULT_CODES.get(status, ("InternalError", "Error"))
        self._add(_Rule("status", count, method, path, status, code or default_code,
                        message or default_message, close, dict(headers or {})))

    def truncate_upload(self, count: int = 1, method: str | None = "PUT", *,
                        path: str | None = None, after_bytes: int | None = None) -> None:
        """Forward the next `count` matching requests but only part of their body (half,
        or `after_bytes`), then close both connections: the upload fails mid-way."""
        self._add(_Rule("truncate", count, method, path, after_bytes=after_bytes))

    def clear(self) -> None:
        """Drop pending faults and forget the requests seen."""
        with self._lock:
            self._rules.clear()
            self.requests.clear()
            self.request_headers.clear()

    @property
    def pending(self) -> int:
        """How many injected faults have not fired yet."""
        with self._lock:
            return sum(rule.count for rule in self._rules)

    def stop(self) -> None:
        self._stopping = True
        _hard_close(self._listener)  # shutdown() wakes the blocked accept(); close() doesn't
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _hard_close(conn)
        self._acceptor.join(timeout=5)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the proxy's side -------------------------------------------------------------

    def _add(self, rule: _Rule) -> None:
        with self._lock:
            self._rules.append(rule)

    def _take_rule(self, method: str, target: str) -> _Rule | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, target):
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                    return rule
        return None

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,),
                                      name="faultproxy-conn", daemon=True)
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _track(self, sock: socket.socket | None, add: bool) -> None:
        if sock is None:
            return
        with self._lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(self.timeout)
        self._track(client, True)
        reader = client.makefile("rb")
        upstream: socket.socket | None = None
        up_reader = None
        try:
            if self._stopping:             # accepted while stop() was closing everything
                return
            while not self._stopping:
                head = _read_head(reader)
                if not head:
                    return
                request_line, headers = _parse_headers(head)
                try:
                    method, target, version = request_line.split(" ", 2)
                except ValueError:
                    return
                request = _Request(method, target, version, head, headers)
                with self._lock:
                    self.requests.append((method, target))
                    self.request_headers.append(headers)
                if request.expects_continue:
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = _strip_header(head, "expect")
                rule = self._take_rule(method, target)
                if rule is not None and rule.kind == "status":
                    for _ in _body_chunks(reader, headers):
                        pass
                    client.sendall(self._error_response(request, rule))
                    if rule.close or request.wants_close:
                        return
                    continue
                if upstream is not None and _dropped(upstream):
                    self._track(upstream, False)  # closed while idle (keep-alive timeout)
                    up_reader.close()
                    _hard_close(upstream)
                    upstream = up_reader = None
                if upstream is None:
                    try:
                        upstream = socket.create_connection(self.upstream, timeout=self.timeout)
                    except OSError:
                        return             # upstream down: drop the client, unanswered
                    self._track(upstream, True)
                    up_reader = upstream.makefile("rb")
                if rule is not None and rule.kind == "truncate":
                    self._forward_truncated(request, head, reader, upstream, rule)
                    return
                upstream.sendall(head)
                for data in _body_chunks(reader, headers):
                    upstream.sendall(data)
                keep = self._relay_response(request, up_reader, client)
                if not keep:
                    return
        except (_Closed, OSError, ValueError):
            return
        finally:
            if upstream is not None:
                self._track(upstream, False)
                up_reader.close()
                _hard_close(upstream)
            self._track(client, False)
            reader.close()
            _hard_close(client)

    def _relay_response(self, request: _Request, up_reader, client: socket.socket) -> bool:
        """Copy one response (after any 1xx) to the client; True if both may keep alive."""
        while True:
            head = _read_head(up_reader)
            if not head:
                raise _Closed("upstream closed before answering")
            status_line, headers = _parse_headers(head)
            status = int(status_line.split(" ", 2)[1])
            client.sendall(head)
            if 100 <= status < 200:
                continue
            break
        no_body = request.method == "HEAD" or status in (204, 304)
        framed = ("content-length" in headers
                  or "chunked" in headers.get("transfer-encoding", "").lower())
        if not no_body:
            for data in _body_chunks(up_reader, headers, until_close=True):
                client.sendall(data)
        closing = headers.get("connection", "").lower() == "close"
        return not (closing or request.wants_close or (not no_body and not framed))

    def _forward_truncated(self, request: _Request, head: bytes, reader,
                           upstream: socket.socket, rule: _Rule) -> None:
        length = request.headers.get("content-length")
        limit = rule.after_bytes
        if limit is None:
            limit = int(length) // 2 if length else 1024
        upstream.sendall(head)
        sent = 0
        for data in _body_chunks(reader, request.headers):
            if sent + len(data) >= limit:
                upstream.sendall(data[: limit - sent])
                break
            upstream.sendall(data)
            sent += len(data)
        # then the caller closes both sides (with RST if unread data is pending)

    @staticmethod
    def _error_response(request: _Request, rule: _Rule) -> bytes:
        resource = escape(request.target.split("?", 1)[0])
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(rule.code)}</Code><Message>{escape(rule.message)}"
            f"</Message><Resource>{resource}</Resource>"
            "<RequestId>FAULTPROXY</RequestId></Error>"
        ).encode()
        if request.method == "HEAD":
            body = b""
        lines = [
            f"HTTP/1.1 {rule.status} {REASONS.get(rule.status, 'Error')}",
            "Content-Type: application/xml",
            f"Content-Length: {len(body)}",
            "x-amz-request-id: FAULTPROXY",
            "Server: FaultProxy",
            f"Connection: {'close' if rule.close or request.wants_close else 'keep-alive'}",
            *(f"{name}: {value}" for name, value in rule.headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _dropped(sock: socket.socket) -> bool:
    """True if an idle keep-alive connection was closed by the peer (readable = EOF)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _hard_close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
