"""Receive times of a store file's lines, in a zstd skippable frame at the file's end.

A store line stays ``<docId>\\t<json>\\n`` exactly as in 2013. The receive time
of each line (ns since the epoch, the receiving node's clock) is appended to
the file as one *skippable frame*, which every zstd decoder (``zstdcat``,
python-zstandard with ``read_across_frames=True``) passes over, so readers
that do not know it see the same lines as before. Layout (little endian):

    magic 0x184D2A5E | u32 payload length | payload
    payload = zstd(i64 receive times, one per line, in line order)
              | u32 line count | u32 length of the compressed times | b"ARRIVALS"

The trailer ends the file, so a reader finds the frame from the end without
decompressing anything. A file without it (written before this format, or by
another tool) has no receive times: `read_arrivals` returns None.
"""

from __future__ import annotations

import os
import struct
from array import array

import zstandard

MAGIC = 0x184D2A5E
MARKER = b"ARRIVALS"
_HEADER = struct.Struct("<II")
_TRAILER = struct.Struct("<II8s")


def arrivals_frame(times: array[int]) -> bytes:
    """The skippable frame holding `times` (an ``array("q")``, one per line)."""
    packed = zstandard.ZstdCompressor(level=3).compress(_little(times).tobytes())
    payload = packed + _TRAILER.pack(len(times), len(packed), MARKER)
    return _HEADER.pack(MAGIC, len(payload)) + payload


def read_arrivals(path: str | os.PathLike[str]) -> array[int] | None:
    """The receive times of the file's lines, or None if it carries none (or a damaged
    frame: callers then order its records as if their times were unknown)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size < _HEADER.size + _TRAILER.size:
            return None
        f.seek(size - _TRAILER.size)
        count, packed_len, marker = _TRAILER.unpack(f.read(_TRAILER.size))
        start = size - _TRAILER.size - packed_len - _HEADER.size
        if marker != MARKER or start < 0:
            return None
        f.seek(start)
        magic, length = _HEADER.unpack(f.read(_HEADER.size))
        if magic != MAGIC or length != packed_len + _TRAILER.size:
            return None
        try:
            raw = zstandard.ZstdDecompressor().decompress(f.read(packed_len),
                                                          max_output_size=count * 8)
        except zstandard.ZstdError:
            return None
    if len(raw) != count * 8:
        return None
    return _little(array("q", raw))


def _little(times: array[int]) -> array[int]:
    """`times` in little-endian order (a copy on big-endian machines)."""
    if struct.pack("=i", 1) == struct.pack("<i", 1):
        return times
    swapped = array("q", times)
    swapped.byteswap()
    return swapped
