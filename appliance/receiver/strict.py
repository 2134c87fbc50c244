"""The RFC 9112 rules the receiver enforces on top of llhttp's.

llhttp (through httptools) parses the request line, header fields, chunked
framing and line ends strictly: CRLF only, token characters in names, no
control characters in values but HTAB, no obs-fold, HEXDIG chunk sizes with
well-formed extensions, no Content-Length beside Transfer-Encoding. What it
leaves to its user is checked here once the head is in: the version (1.0 or
1.1), the method, a single Host (required in HTTP/1.1), a single
Content-Length and Transfer-Encoding, no Transfer-Encoding in HTTP/1.0, and no
protocol upgrade. The differential test (tests/unit/test_http_differential.py)
holds the receiver to accepting nothing that llhttp or h11 refuses.
"""

from __future__ import annotations

# Methods a strict parser knows; CONNECT is left out (it changes the framing).
METHODS = frozenset((b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE",
                     b"PATCH"))
VERSIONS = ("1.1", "1.0")
# Fields that frame the message or name the host: a second one is refused.
SINGLE = frozenset((b"content-length", b"transfer-encoding", b"host"))
MAX_LENGTH_DIGITS = 18  # past this a Content-Length is beyond any body limit (and int())


class Refused(Exception):
    """The request cannot be served: answer `status` with `message` and close."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def check_head(method: bytes, version: str, headers: dict[bytes, bytes], repeated: bytes | None,
               upgrade: bool) -> None:
    """Refuse a head llhttp accepted but the receiver does not serve.

    `repeated` is the first field in SINGLE that appeared twice, if any.
    """
    if version not in VERSIONS:
        raise Refused(505, "HTTP/1.1 or HTTP/1.0 only")
    if method not in METHODS:
        raise Refused(501, "method not implemented")
    if repeated is not None:
        raise Refused(400, f"more than one {repeated.decode()} header")
    if version == "1.1" and b"host" not in headers:
        raise Refused(400, "Host header required")
    if upgrade:
        raise Refused(501, "protocol upgrades are not supported")
    encoding = headers.get(b"transfer-encoding")
    if encoding is not None:
        if version != "1.1":
            raise Refused(400, "Transfer-Encoding in an HTTP/1.0 request")
        check_transfer_encoding(encoding)


def content_length(value: bytes) -> int:
    """A Content-Length value (1*DIGIT, already checked by llhttp), or Refused past any limit."""
    if len(value) > MAX_LENGTH_DIGITS:
        raise Refused(413, "Content-Length beyond any body limit")
    return int(value)


def check_transfer_encoding(value: bytes) -> None:
    """Refuse any Transfer-Encoding but `chunked` (400 when chunked is not the last)."""
    if value.lower() == b"chunked":
        return
    last = value.rsplit(b",", 1)[-1].strip(b" \t").lower()
    if last == b"chunked":
        raise Refused(501, "only chunked transfer encoding is supported")
    raise Refused(400, "chunked must be the last transfer coding")
