"""The admin API's request: the token is checked when the headers are in, before any body.

twisted.web's Request stores a whole body (in a temp file when large) before
the resource sees the request, so checking the token in `render` would let
any local process fill the disk. Here an unauthenticated request is answered
401 and its connection closed as soon as its headers are parsed, and an
authenticated body is bounded (`max_body_bytes`) and kept in memory. Every
error answer is JSON, never twisted's HTML page.
"""

from __future__ import annotations

import io
from typing import IO, Protocol

import orjson
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES
from twisted.web.server import Request

from appliance.admin.token import bearer_matches

log = Logger()

UNAUTHORIZED = ("missing or wrong bearer token (Authorization: Bearer <token>; the token is in "
                "the data dir's admin.token)")
CHALLENGE = b'Bearer realm="appliance-admin"'


def error_body(message: str) -> bytes:
    """The JSON body of every error answer."""
    return orjson.dumps({"error": message})


class AdminBounds(Protocol):
    """What an AdminRequest reads of its site (an AdminSite)."""

    token: str
    max_body_bytes: int


class AdminRequest(Request):
    """A Request of an AdminSite (which carries `token` and `max_body_bytes`)."""

    # twisted.web declares `content = None` without a type; it holds the body from gotLength
    content: IO[bytes]  # type: ignore[assignment]
    _refused = False
    _received = 0

    @property
    def _site(self) -> AdminBounds:
        # Site.buildProtocol sets `site` on each channel; HTTPChannel does not declare it
        return self.channel.site  # type: ignore[attr-defined, no-any-return]

    def gotLength(self, length: int | None) -> None:
        site = self._site
        self.content = io.BytesIO()  # bounded below, so never a temp file
        if not bearer_matches(self.requestHeaders.getRawHeaders(b"authorization", [None])[0],
                              site.token):
            self._refuse(401, UNAUTHORIZED, (b"WWW-Authenticate", CHALLENGE))
        elif length is not None and length > site.max_body_bytes:
            self._refuse(413, f"request body over {site.max_body_bytes} bytes")

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        limit = self._site.max_body_bytes
        if self._received > limit:  # chunked: no length up front
            self._refuse(413, f"request body over {limit} bytes")
            return
        self.content.write(data)

    def process(self) -> None:
        if not self._refused:  # a refused request was answered from its headers
            super().process()

    def _refuse(self, status: int, message: str, *headers: tuple[bytes, bytes]) -> None:
        """Answer now, without the body, and close the connection (the unread body makes
        it unusable); a client that sent `Expect: 100-continue` is not invited to send it."""
        self._refused = True
        self.content = io.BytesIO()
        self.requestHeaders.removeHeader(b"expect")
        body = error_body(message)
        head = [b"HTTP/1.1 %d %s" % (status, RESPONSES[status]),
                b"Content-Type: application/json", b"Cache-Control: no-store",
                b"Content-Length: %d" % len(body), b"Connection: close",
                *(name + b": " + value for name, value in headers)]
        if self.channel.transport is not None:  # still connected: the headers just came in
            self.channel.transport.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        self.channel.loseConnection()

    def processingFailed(self, reason: Failure) -> Failure | None:
        """An unexpected error: a JSON 500 (twisted's own is an HTML page)."""
        log.failure("admin API: {path} failed", reason,
                    path=self.path.decode("utf-8", "replace"))
        if self.finished or self._disconnected:
            return reason
        if not self.startedWriting:
            body = error_body(f"internal error: {reason.getErrorMessage()}")
            self.setResponseCode(500)
            self.setHeader(b"Content-Type", b"application/json")
            self.setHeader(b"Content-Length", b"%d" % len(body))
            self.write(body)
        self.finish()
        return reason
