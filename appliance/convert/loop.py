"""The converter loop: sealed spool segments -> committed store generations.

It reads sealed segments in order from where the last commit left off,
converts each record (records.py), writes it into the generation's partition
files (partfiles.py), and commits the generation (checkpoint.py) when it is
`max_file_age` old or has `max_file_bytes` of data, when it runs out of work
after that age, and when asked to stop: it stops at a record boundary and
commits what it has, so a restart never waits on half-written partitions.
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.convert.records import RecordConverter
from appliance.ledger.converted import DayCounts
from appliance.ledger.dates import DayOf
from appliance.spool.reader import ReadReport, iter_frames
from appliance.spool.segments import SEALED_PREFIX, SUFFIX, SpoolDir
from appliance.storage.checkpoint import Checkpoint, CheckpointLog
from appliance.storage.partfiles import TMP_DIR, PartitionFiles

RECENT_IDS = 1 << 20  # record ids remembered to drop a re-appended copy


@dataclass
class ConverterCounts:
    """What the loop has done since it started."""

    records: int = 0
    converted: int = 0
    invalid: int = 0
    duplicates: int = 0
    damaged_regions: int = 0
    commits: int = 0
    files: int = 0
    segments_done: int = 0
    bytes_in: int = 0
    idle: bool = False
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    unknown_histograms: dict[str, int] = field(default_factory=dict)


class _Generation:
    """The records converted since the last commit."""

    def __init__(self, files: PartitionFiles, started: float):
        self.files = files
        self.started = started
        self.done_segments: list[str] = []
        self.days = DayCounts()  # the ledger's counts of this generation's records


def segment_stem(segment: Path) -> str:
    """A sealed segment's name without prefix and suffix; stems sort by sealing time."""
    return segment.name[len(SEALED_PREFIX):-len(SUFFIX)]


def generation_id(segment: Path, offset: int) -> str:
    """A name unique per node and fixed by where the generation starts."""
    return f"{segment_stem(segment)}-{offset:x}"


class ConverterLoop:
    """Converts a spool into a store, exactly once across crashes."""

    def __init__(self, spool: SpoolDir, store_root: Path, converter: RecordConverter, *,
                 node_id: str, level: int, max_file_bytes: int, max_file_age: float,
                 clock: Callable[[], float] = time.monotonic,
                 on_report: Callable[[ConverterCounts], None] | None = None):
        self.spool = spool
        self.store_root = store_root
        self.converter = converter
        self.node_id = node_id
        self.level = level
        self.max_file_bytes = max_file_bytes
        self.max_file_age = max_file_age
        self.clock = clock
        self.on_report = on_report  # called after each commit and on becoming idle
        self.log = CheckpointLog(store_root, spool.root)
        self.counts = ConverterCounts()
        self._offsets: dict[str, int] = {}
        self._frontier: tuple[str, int] | None = None
        self._recent: OrderedDict[bytes, None] = OrderedDict()
        self._gen: _Generation | None = None
        self._days = DayCounts()  # committed ledger totals
        self._day_of = DayOf()
        # gate(record, segment) -> False holds conversion back at that record
        # (appliance.ledger.accepted.AcceptedGate in the server's converter).
        self.gate: Callable[[object, Path], bool] | None = None
        self.held = False

    # -- the loop -----------------------------------------------------------

    def run(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Convert until `stop` is set, then commit and return."""
        self.recover()
        while not stop.is_set():
            worked = self.run_once(stop)
            if self._gen is not None and self._due():
                self.commit()
            if not worked:
                if not self.counts.idle:
                    self.counts.idle = True
                    self._report()
                stop.wait(idle_wait)
            else:
                self.counts.idle = False
        self.commit()

    def drain(self) -> None:
        """One pass: recover, convert every sealed segment, commit."""
        self.recover()
        self.run_once()
        self.commit()

    def recover(self) -> None:
        """Finish or discard what a crash left, and load the offsets."""
        self.store_root.mkdir(parents=True, exist_ok=True)
        checkpoint = self.log.recover()
        self._offsets, self._frontier = checkpoint.offsets, checkpoint.frontier
        self._days = DayCounts(checkpoint.ledger)
        self._gen = None

    def run_once(self, stop: threading.Event | None = None) -> bool:
        """Convert every sealed segment not yet done; True if anything was read."""
        worked = False
        done_now = set(self._gen.done_segments) if self._gen else set()
        self.held = False
        for segment in self.spool.sealed_segments():
            if stop is not None and stop.is_set():
                break
            if segment.name in done_now:
                continue
            worked |= self._convert_segment(segment, stop)
            if self.held:
                break  # in spool order only: the next pass goes on from here
        return worked

    def _convert_segment(self, segment: Path, stop: threading.Event | None) -> bool:
        start = self._offsets.get(segment.name, 0)
        stem = segment_stem(segment)
        with open(segment, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if start >= size:
                self._generation(segment, start).done_segments.append(segment.name)
                self._frontier = (stem, size)
                return size > 0
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as buf:
                report = ReadReport()
                for offset, end, record in iter_frames(buf, report, start):
                    if self.gate is not None and not self.gate(record, segment):
                        self.held = True
                        self.counts.damaged_regions += report.damaged_regions
                        return offset > start
                    gen = self._generation(segment, offset)
                    self._add(gen, record)
                    self._offsets[segment.name] = end
                    self._frontier = (stem, end)
                    self.counts.bytes_in += end - offset
                    if self._due():
                        self.commit()
                    if stop is not None and stop.is_set():
                        self.counts.damaged_regions += report.damaged_regions
                        return True
                self.counts.damaged_regions += report.damaged_regions
        self._offsets[segment.name] = size
        self._frontier = (stem, size)
        self._generation(segment, size).done_segments.append(segment.name)
        return True

    def _generation(self, segment: Path, offset: int) -> _Generation:
        if self._gen is None:
            files = PartitionFiles(self.store_root, generation_id(segment, offset), self.node_id,
                                   level=self.level, max_file_bytes=self.max_file_bytes)
            self._gen = _Generation(files, self.clock())
        return self._gen

    def _add(self, gen: _Generation, record) -> None:
        self.counts.records += 1
        if record.record_id in self._recent:
            self.counts.duplicates += 1  # re-appended after an fsync error: keep one
            return
        self._recent[record.record_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        result = self.converter.convert(record)
        gen.files.write(result.partition, result.line, record.received_ns)
        gen.days.add(self._day_of(record.received_ns), result.invalid_reason)
        if result.invalid_reason:
            self.counts.invalid += 1
        else:
            self.counts.converted += 1

    def _due(self) -> bool:
        gen = self._gen
        if gen is None:
            return False
        return (self.clock() - gen.started >= self.max_file_age
                or gen.files.raw_bytes >= self.max_file_bytes)

    # -- committing ---------------------------------------------------------

    def commit(self) -> None:
        """Publish the current generation and delete the segments it finished."""
        gen, self._gen = self._gen, None
        if gen is None:
            return
        files = gen.files.finish_all()
        renames = gen.files.renames(files)
        offsets = {k: v for k, v in self._offsets.items() if k not in gen.done_segments}
        days = DayCounts(self._days.as_json())
        days.merge(gen.days)
        self.log.commit(Checkpoint(offsets=offsets, renames=renames, ledger=days.as_json(),
                                   delete=list(gen.done_segments), frontier=self._frontier))
        self._offsets, self._days = offsets, days
        tmp = self.store_root / TMP_DIR / gen.files.generation
        if tmp.exists():
            tmp.rmdir()
        self.counts.commits += 1
        self.counts.files += len(files)
        self.counts.segments_done += len(gen.done_segments)
        self._report()

    def _report(self) -> None:
        self.counts.invalid_by_reason = dict(self.converter.invalid_by_reason)
        self.counts.unknown_histograms = dict(self.converter.unknown_histograms)
        if self.on_report is not None:
            self.on_report(self.counts)
