"""A converter worker reads the records it is handed from the sealed segments themselves.

The committer names each record by place (segment file name, offset and end of
its frame; workers.py). Reading it again costs one `pread` from the page cache
and a frame decode, with its checksums checked again: far less than sending its
body through a pipe.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.spool.frame import FrameError, decode_at
from appliance.spool.record import SpoolRecord


class SegmentFrames:
    """Reads frames from the sealed segments of one spool directory, keeping the last
    segment read open (records come in spool order)."""

    def __init__(self, spool_root: Path):
        self.spool_root = spool_root
        self._name: str | None = None
        self._fd: int | None = None

    def read(self, segment: str, offset: int, end: int) -> SpoolRecord:
        """The record framed at `offset`..`end` of `segment`. FrameError if those bytes
        are not exactly one valid frame (the committer found one there: the segment
        changed, which sealed segments never do)."""
        fd = self._fd
        if fd is None or segment != self._name:
            self.close()
            fd = self._fd = os.open(self.spool_root / segment, os.O_RDONLY | os.O_CLOEXEC)
            self._name = segment
        data = os.pread(fd, end - offset, offset)
        record, stop = decode_at(data, 0)
        if stop != len(data):
            raise FrameError(f"{segment} offset {offset}: the frame ends at {offset + stop}, "
                             f"not at {end}")
        return record

    def close(self) -> None:
        """Close the open segment, if any."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._name = None
