"""Reading spool segments: verify every frame, resynchronise after damage, count it."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from appliance.spool.frame import MAGIC, FrameBuffer, FrameError, decode_at
from appliance.spool.record import SpoolRecord


@dataclass
class DamagedRegion:
    """A run of bytes between good frames that held no valid frame."""

    offset: int
    length: int


@dataclass
class ReadReport:
    """What a read found: good records, and each damaged region."""

    records: int = 0
    damaged: list[DamagedRegion] = field(default_factory=list)

    @property
    def damaged_regions(self) -> int:
        return len(self.damaged)

    @property
    def damaged_bytes(self) -> int:
        return sum(r.length for r in self.damaged)


def iter_frames(buf: FrameBuffer, report: ReadReport | None = None,
                start: int = 0) -> Iterator[tuple[int, int, SpoolRecord]]:
    """Yield (offset, end offset, record) for every valid frame in `buf` from `start`.

    Damage never stops the read: after a bad frame the reader searches for the
    next magic and carries on, so only damaged records are lost. Each maximal
    run of bytes that is not part of a valid frame is one damaged region,
    recorded in `report`.
    """
    report = report if report is not None else ReadReport()
    size = len(buf)
    pos = start
    bad_start = None
    while pos < size:
        try:
            record, end = decode_at(buf, pos)
        except FrameError:
            if bad_start is None:
                bad_start = pos
            nxt = buf.find(MAGIC, pos + 1)
            pos = size if nxt < 0 else nxt
            continue
        if bad_start is not None:
            report.damaged.append(DamagedRegion(bad_start, pos - bad_start))
            bad_start = None
        report.records += 1
        yield pos, end, record
        pos = end
    if bad_start is not None:
        report.damaged.append(DamagedRegion(bad_start, size - bad_start))


def iter_buffer(buf: FrameBuffer,
                report: ReadReport | None = None) -> Iterator[tuple[int, SpoolRecord]]:
    """Yield (offset, record) for every valid frame in `buf` (see iter_frames)."""
    for offset, _end, record in iter_frames(buf, report):
        yield offset, record


def read_segment(path: str | os.PathLike[str],
                 report: ReadReport | None = None) -> Iterator[SpoolRecord]:
    """Yield the valid records of one segment file, in file order."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as buf:
            for _offset, record in iter_buffer(buf, report):
                yield record


def verify_segment(path: Path) -> ReadReport:
    """Read a whole segment and return what was found."""
    report = ReadReport()
    for _ in read_segment(path, report):
        pass
    return report
