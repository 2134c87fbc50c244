"""Pending conversion: records in the spool past the converter's committed offsets.

Segments only grow (and are renamed when sealed), so each is read once,
incrementally, by inode: for every frame the index keeps its end offset, its
day and its writer position. Counting what is pending for given offsets is
then a bisection, with no I/O beyond the bytes appended since the last call.
"""

from __future__ import annotations

import bisect
import mmap
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from appliance.ledger.accepted import split_id
from appliance.ledger.dates import DayOf
from appliance.spool.reader import iter_frames
from appliance.spool.segments import SpoolDir


@dataclass
class _SegmentIndex:
    """Per frame: end offset, sequence number, and indexes into the shared name tables."""

    scanned: int = 0  # bytes read so far
    ends: array[int] = field(default_factory=lambda: array("q"))
    seqs: array[int] = field(default_factory=lambda: array("q"))
    prefixes: array[int] = field(default_factory=lambda: array("i"))
    days: array[int] = field(default_factory=lambda: array("i"))


class PendingConversion:
    """Counts spool records not yet committed by the converter, per day (blocking; one thread)."""

    def __init__(self, spool: SpoolDir):
        self.spool = spool
        self._index: dict[int, _SegmentIndex] = {}
        self._day = DayOf()
        self._names: list[str] = []  # days and writer prefixes, by table index
        self._ids: dict[str, int] = {}

    def count(self, offsets: dict[str, int], position: dict[str, int]) -> Counter[str]:
        """Records per day past `offsets` (sealed name -> converted up to).

        Only records within the accepted `position` (writer -> last sequence
        number counted as accepted) are counted, so frames written but not yet
        answered are not pending before they are accepted.
        """
        pending: Counter[str] = Counter()
        live: set[int] = set()
        for segment in self.spool.all_segments():
            try:
                st = segment.stat()
            except FileNotFoundError:
                continue
            live.add(st.st_ino)
            index = self._index.setdefault(st.st_ino, _SegmentIndex())
            if st.st_size > index.scanned:
                self._read(segment, index)
            start = bisect.bisect_right(index.ends, offsets.get(segment.name, 0))
            limits = [position.get(name, -1) for name in self._names]
            names = self._names
            for i in range(start, len(index.ends)):
                if index.seqs[i] <= limits[index.prefixes[i]]:
                    pending[names[index.days[i]]] += 1
        for gone in set(self._index) - live:
            del self._index[gone]
        return pending

    def _id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self._names)
            self._names.append(name)
        return found

    def _read(self, segment: Path, index: _SegmentIndex) -> None:
        try:
            f = open(segment, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            if size <= index.scanned:
                return
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as buf:
                for _offset, end, record in iter_frames(buf, start=index.scanned):
                    prefix, seq = split_id(record.record_id)
                    index.ends.append(end)
                    index.seqs.append(seq)
                    index.prefixes.append(self._id(prefix))
                    index.days.append(self._id(self._day(record.received_ns)))
            # A torn frame at the tail may still be completing: read it again next time.
            index.scanned = index.ends[-1] if index.ends else 0
