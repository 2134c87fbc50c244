"""What the receiver's handler is given and what it answers: Request, Answer, and the
bytes of a short plain-text response."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol


class Connection(Protocol):
    """What a Request needs of its connection (the receiver's protocol): its transport."""

    transport: Any


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
                 body: bytes, has_length: bool, started: float, protocol: Connection):
        self.method = method
        self.target = target
        self.path = _path(target).decode("latin-1")
        self.headers = headers
        self.body = body
        self.has_length = has_length
        self.started = started
        self._protocol = protocol

    def client_ip(self) -> str:
        """The peer's address (the TCP peer: a proxy's, behind one)."""
        host: str = self._protocol.transport.getPeer().host
        return host


def _path(target: bytes) -> bytes:
    """The path of a request target (origin-form or absolute-form), without the query."""
    if target[:1] != b"/" and b"://" in target:
        rest = target.split(b"://", 1)[1]
        slash = rest.find(b"/")
        target = rest[slash:] if slash >= 0 else b"/"
    return target.split(b"?", 1)[0]


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
