"""A converter worker reads the records it is handed from the sealed segments themselves.

The committer names each record by place (segment file name, offset and end of
its frame; workers.py). Reading it again from a map of the segment (the page
cache: the committer has just read it) costs a frame decode, its checksums
checked again: less than sending its body through a pipe.
"""

from __future__ import annotations

import mmap
from pathlib import Path

from appliance.spool.frame import FrameError, decode_at
from appliance.spool.record import SpoolRecord


class SegmentFrames:
    """Reads frames from the sealed segments of one spool directory, keeping the last
    segment read mapped (records come in spool order)."""

    def __init__(self, spool_root: Path):
        self.spool_root = spool_root
        self._name: str | None = None
        self._buf: mmap.mmap | None = None

    def read(self, segment: str, offset: int, end: int) -> SpoolRecord:
        """The record framed at `offset`..`end` of `segment`. FrameError if those bytes
        are not exactly one valid frame (the committer found one there: the segment
        changed, which sealed segments never do)."""
        buf = self._buf
        if buf is None or segment != self._name:
            self.close()
            with open(self.spool_root / segment, "rb") as f:
                buf = self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            self._name = segment
        record, stop = decode_at(buf, offset)
        if stop != end:
            raise FrameError(f"{segment} offset {offset}: the frame ends at {stop}, "
                             f"not at {end}")
        return record

    def close(self) -> None:
        """Unmap the segment, if any (a deleted segment's space is freed once unmapped)."""
        if self._buf is not None:
            self._buf.close()
        self._buf = self._name = None
