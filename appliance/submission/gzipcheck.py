"""The cheap checks of a gzip body that the receiver can afford on the hot path.

A full decompression is the converter's job. Here: the gzip magic and method,
and the trailer's ISIZE (uncompressed size mod 2**32), which for one member of
at most `max_body_bytes` (deflate expands at most ~1032x) is exact, so a
decompression bomb is refused before it is stored.
"""

from __future__ import annotations

import struct

GZIP_MAGIC = b"\x1f\x8b\x08"
_MIN_GZIP = 18  # 10-byte header + 8-byte trailer


class GzipProblem(ValueError):
    """A body that claims to be gzip but cannot be one (400) or is too large (413)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def is_gzip(body: bytes) -> bool:
    return body[:3] == GZIP_MAGIC


def check_gzip(body: bytes, declared: bool, max_decompressed: int) -> None:
    """Raise GzipProblem for a body that is not acceptable as gzip.

    `declared` is true when the client sent `Content-Encoding: gzip`; then the
    body must be gzip. An undeclared body that looks like gzip is checked too.
    """
    if not is_gzip(body):
        if declared:
            raise GzipProblem(400, "Content-Encoding is gzip but the body is not gzip data")
        return
    if len(body) < _MIN_GZIP:
        raise GzipProblem(400, "truncated gzip body")
    (isize,) = struct.unpack_from("<I", body, len(body) - 4)
    if isize > max_decompressed:
        raise GzipProblem(413, f"gzip body decompresses to {isize} bytes, "
                               f"more than the {max_decompressed} allowed")
