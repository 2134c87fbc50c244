"""What RFC 9112 allows in a request head and in chunked framing, and nothing more.

The lean protocol (`http.py`) finds the end of a head and of each chunk line;
this module decides whether the bytes in between are well formed. Whatever
the grammar does not allow is refused with 400 (or 501/505 for a well-formed
method or version that is not served), so that every request the receiver
accepts is one that strict parsers (llhttp, h11) read the same way: no bare
CR or LF, no control characters, no spaces in or after a header name, no
obs-fold, one Host, one Content-Length, one Transfer-Encoding. The differential
test (tests/unit/test_http_differential.py) holds the receiver to that.

The checks are compiled regular expressions run once over a whole head, so
their cost does not grow with the number of Python-level steps per header.
"""

from __future__ import annotations

import re

_TCHAR = rb"[-!#$%&'*+.^_`|~0-9A-Za-z]"
# field-content: VCHAR, obs-text, SP and HTAB; OWS around it is removed by the caller
_FIELD_CHARS = rb"[\t\x20-\x7e\x80-\xff]"
_FIELD = _TCHAR + rb"+:" + _FIELD_CHARS + rb"*"

# origin-form, absolute-form (http/https) or asterisk-form; VCHAR only
_TARGET = rb"/[\x21-\x7e]*|[Hh][Tt][Tt][Pp][Ss]?://[\x21-\x7e]+|\*"
_REQUEST_LINE = re.compile(rb"(" + _TCHAR + rb"+) (" + _TARGET + rb") (HTTP/[0-9]\.[0-9])")
_FIELD_LINES = re.compile(rb"(?:\r\n" + _FIELD + rb")*")
_FIELD_PAIRS = re.compile(rb"\r\n(" + _TCHAR + rb"+):[\t ]*(" + _FIELD_CHARS + rb"*)")
_FIELD_LINE = re.compile(_FIELD)

_QUOTED = rb'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t\x20-\x7e\x80-\xff])*"'
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)(?:;" + _TCHAR + rb"+(?:=(?:" + _TCHAR + rb"+|"
                         + _QUOTED + rb"))?)*")

# Methods a strict parser knows; CONNECT is left out (it changes the framing).
METHODS = frozenset((b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE",
                     b"PATCH"))
VERSIONS = (b"HTTP/1.1", b"HTTP/1.0")
# Fields that frame the message or name the host: a second one is refused.
_SINGLE = frozenset((b"content-length", b"transfer-encoding", b"host"))
MAX_LENGTH_DIGITS = 18  # past this a Content-Length is beyond any body limit (and int())


class Refused(Exception):
    """The request cannot be served: answer `status` with `message` and close."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    """(method, target, version) of a request line, or Refused."""
    match = _REQUEST_LINE.fullmatch(line)
    if match is None:
        raise Refused(400, "malformed request line")
    method, target, version = match.groups()
    if version not in VERSIONS:
        raise Refused(505, "HTTP/1.1 or HTTP/1.0 only")
    if method not in METHODS:
        raise Refused(501, "method not implemented")
    if target == b"*" and method != b"OPTIONS":
        raise Refused(400, "malformed request line")
    return method, target, version


def fields(head: bytes, start: int) -> dict[bytes, bytes]:
    """The header fields of `head` from `start` (the CRLF after the request line).

    Names are lower-cased; a repeated field keeps its first value, except the
    ones in `_SINGLE`, which are refused when repeated.
    """
    if _FIELD_LINES.fullmatch(head, start) is None:
        raise Refused(400, "malformed header line")
    headers: dict[bytes, bytes] = {}
    for name, value in _FIELD_PAIRS.findall(head, start):
        name = name.lower()
        if name in headers:
            if name in _SINGLE:
                raise Refused(400, f"more than one {name.decode()} header")
            continue
        headers[name] = value.rstrip(b" \t")
    return headers


def content_length(value: bytes) -> int:
    """A Content-Length value (1*DIGIT), or Refused."""
    if not value.isdigit():
        raise Refused(400, "bad Content-Length")
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


def chunk_size(line: bytes) -> int:
    """The size on a chunk-size line: 1*HEXDIG, then chunk extensions (ignored)."""
    match = _CHUNK_LINE.fullmatch(line)
    if match is None:
        raise Refused(400, "bad chunked encoding")
    return int(match.group(1), 16)


def is_field_line(line: bytes) -> bool:
    """Whether `line` (without its CRLF) is a well-formed field line (a trailer)."""
    return _FIELD_LINE.fullmatch(line) is not None


def has_bare_line_end(buf: bytes, start: int) -> bool:
    """Whether buf[start:] holds a LF without its CR, or a CR followed by anything but LF."""
    pairs = buf.count(b"\r\n", start)
    if buf.count(b"\n", start) != pairs:
        return True
    crs = buf.count(b"\r", start)
    return crs != pairs and not (crs == pairs + 1 and buf.endswith(b"\r"))
