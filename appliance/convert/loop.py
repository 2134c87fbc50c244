"""The converter loop: sealed spool segments -> committed store generations.

It reads sealed segments in order from where the last commit left off,
converts each record (records.py), writes it into the generation's partition
files (partfiles.py), and commits the generation (checkpoint.py) when it is
`max_file_age` old or has `max_file_bytes` of data; when it runs out of work
and the generation's oldest record was received `max_file_age` ago or more
(the end of a backlog: its records have waited long enough, a young
generation of fresh records waits as ever); and when asked to stop: it stops
at a record boundary and commits what it has, so a restart never waits on
half-written partitions.

No record stops it: converting one never raises (records.py), a record that
kills the process is quarantined after a few crashes (crashguard.py), and
below the store's free-space watermark, or when a write fails for lack of
space, it pauses and resumes by itself (storespace.py), dropping the
generation it could not write: it is converted again, never committed twice.

With a `pool` (workers.py, `[converter] processes` >= 2) this process only
reads, orders, gates and commits; worker processes convert and write. A
due generation is then handed in (the workers finish its files) while the
workers go on with the next one, and its checkpoint is written once they have
all answered: the workers do not wait for the commit's fsyncs.
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from appliance.convert.crashguard import GUARD_FILE, MAX_CRASHES, CrashGuard
from appliance.convert.records import RecordConverter
from appliance.convert.storespace import StoreSpace
from appliance.convert.workers import ConverterPool, PooledGeneration, Tally, WorkerDied
from appliance.disk import is_no_space
from appliance.ledger.converted import DayCounts
from appliance.ledger.dates import DayOf
from appliance.spool.reader import ReadReport, iter_frames
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir, segment_stem
from appliance.storage.checkpoint import Checkpoint, CheckpointLog
from appliance.storage.filenames import generation_id, tmp_dir
from appliance.storage.partfiles import PartitionFiles

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
    paused: str | None = None  # why the converter is not writing to the store now
    quarantined: int = 0       # records sent to invalid/ after crashing the converter
    last_quarantined: str | None = None
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    unknown_histograms: dict[str, int] = field(default_factory=dict)


class _Generation:
    """The records converted since the last commit."""

    def __init__(self, files: PartitionFiles | PooledGeneration, started: float,
                 counts_before: tuple):
        self.files = files  # PooledGeneration: written by the worker processes
        self.started = started
        self.counts_before = counts_before  # put back if the generation is dropped
        self.done_segments: list[str] = []
        self.days = DayCounts()  # the ledger's counts of this generation's records
        self.quarantined = False  # holds a quarantined record: commit it at once
        self.oldest_received_ns: int | None = None  # of the records added to it

    def written_here(self) -> PartitionFiles:
        """The partition files, of a generation this process writes itself (no workers)."""
        if not isinstance(self.files, PartitionFiles):
            raise TypeError(f"generation {self.files.generation} is written by the workers")
        return self.files


@dataclass
class _HandedIn:
    """A generation the workers are finishing: what its checkpoint will say."""

    gen: _Generation
    offsets: dict[str, int]
    frontier: tuple[str, int] | None


class ConverterLoop:
    """Converts a spool into a store, exactly once across crashes."""

    def __init__(self, spool: SpoolDir, store_root: Path, converter: RecordConverter, *,
                 node_id: str, level: int, max_file_bytes: int, max_file_age: float,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], int] = time.time_ns,
                 on_report: Callable[[ConverterCounts], None] | None = None,
                 space: StoreSpace | None = None, max_crashes: int = MAX_CRASHES,
                 pool: ConverterPool | None = None):
        self.spool = spool
        self.store_root = store_root
        self.converter = converter
        self.node_id = node_id
        self.level = level
        self.max_file_bytes = max_file_bytes
        self.max_file_age = max_file_age
        self.clock = clock
        self.wall = wall  # nanoseconds since the epoch, as records' receive times
        self.on_report = on_report  # called after each commit, on becoming idle or paused
        self.space = space  # None: no watermark, and no pause on ENOSPC (it raises)
        self.max_crashes = max_crashes
        self.pool = pool  # None: convert and write in this process
        self.guard: CrashGuard | None = None  # opened by recover()
        self.log = CheckpointLog(store_root, spool.root)
        self.counts = ConverterCounts()
        self._offsets: dict[str, int] = {}
        self._frontier: tuple[str, int] | None = None
        self._recent: OrderedDict[bytes, None] = OrderedDict()
        self._gen: _Generation | None = None
        self._handed_in: _HandedIn | None = None  # with a pool: being finished, not committed
        self._days = DayCounts()  # committed ledger totals
        self._day_of = DayOf()
        # gate(record, segment) -> False holds conversion back at that record
        # (appliance.ledger.accepted.AcceptedGate in the server's converter).
        self.gate: Callable[[SpoolRecord, Path], bool] | None = None
        self.held = False

    @property
    def _guard(self) -> CrashGuard:
        """The crash guard (recover() opens it)."""
        if self.guard is None:
            raise RuntimeError("the converter loop has not recovered yet")
        return self.guard

    @property
    def _pool(self) -> ConverterPool:
        """The worker processes (only called where there are some)."""
        if self.pool is None:
            raise RuntimeError("the converter loop has no worker processes")
        return self.pool

    # -- the loop -----------------------------------------------------------

    def run(self, stop: threading.Event, idle_wait: float = 1.0) -> None:
        """Convert until `stop` is set, then commit and return.

        With a pool, a worker process that dies raises WorkerDied, after its
        position is recorded in the crash guard: the caller exits, and the restarted
        converter redoes the uncommitted generation (and quarantines a record that
        keeps killing workers)."""
        self.recover()
        try:
            self._run(stop, idle_wait)
        except WorkerDied as e:
            if e.position is not None:
                self._guard.begin(*e.position)  # as if this process had died there
            raise
        finally:
            self.close()

    def _run(self, stop: threading.Event, idle_wait: float) -> None:
        while not stop.is_set():
            try:
                worked = self.run_once(stop)
                if self._gen is not None and (self._due() or self.counts.paused
                                              or (not worked and self._waited())):
                    self.commit()  # paused: what is converted frees its spool segments
            except OSError as e:
                self._abandon(e)
                worked = False
            if not worked:
                if not self.counts.idle:
                    self.counts.idle = True
                    self._report()
                stop.wait(idle_wait)
            else:
                self.counts.idle = False
        try:
            self.commit()
        except OSError as e:
            self._abandon(e)  # converted again at the next start

    def drain(self) -> None:
        """One pass: recover, convert every sealed segment, commit."""
        self.recover()
        try:
            self.run_once()
            self.commit()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the worker processes, if any (they hold nothing once committed)."""
        if self.pool is not None:
            self.pool.close()

    def recover(self) -> None:
        """Finish or discard what a crash left, and load the offsets."""
        self.store_root.mkdir(parents=True, exist_ok=True)
        checkpoint = self.log.recover()
        self._offsets, self._frontier = checkpoint.offsets, checkpoint.frontier
        self._days = DayCounts(checkpoint.ledger)
        self._gen = None
        if self.guard is None:
            self.guard = CrashGuard(self.store_root / GUARD_FILE, self.max_crashes)
            if self.guard.suspect is not None:
                segment, offset = self.guard.suspect
                print(f"converter: the last converter process died converting the record "
                      f"at {segment} offset {offset} ({self.guard.crashes} time(s) in a row; "
                      f"quarantined after {self.max_crashes})", file=sys.stderr)

    def _abandon(self, error: OSError) -> None:
        """A store write failed for lack of space: drop the generation (its files are
        discarded and the last checkpoint's offsets reloaded, so its records are
        converted again) and pause until space returns. Other errors are raised."""
        if self.space is None or not is_no_space(error):
            raise error
        self.space.failed(error)
        gen = self._handed_in.gen if self._handed_in is not None else self._gen
        self._handed_in = None
        if gen is not None:  # its records will be counted when converted again
            counts, self.converter.invalid_by_reason, self.converter.converted = \
                gen.counts_before
            self.counts = replace(counts, paused=self.counts.paused, idle=self.counts.idle)
        self._recent.clear()  # as after a restart: the records come again
        if self.pool is not None:
            self.pool.drop()
        self.recover()
        self._set_paused(self.space.low())

    def _space_low(self) -> bool:
        """Below the watermark (or after a failed write): pause."""
        if self.space is None:
            return False
        self._set_paused(self.space.low())
        return self.counts.paused is not None

    def _set_paused(self, reason: str | None) -> None:
        if reason != self.counts.paused:
            self.counts.paused = reason
            if reason is None:
                self.counts.idle = False  # resuming: work is waiting
            self._report()

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
        self._publish_handed_in()  # never left waiting past the pass that handed it in
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
                    if ((self.gate is not None and not self.gate(record, segment))
                            or self._space_low()):
                        self.held = True
                        self.counts.damaged_regions += report.damaged_regions
                        return offset > start
                    gen = self._generation(segment, offset)
                    self._add(gen, record, segment.name, offset, end)
                    self._offsets[segment.name] = end
                    self._frontier = (stem, end)
                    self.counts.bytes_in += end - offset
                    if self._due():
                        self._commit_due()
                    elif self._handed_in is not None and self._pool.finished():
                        self._publish_handed_in()
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
            gen_id = generation_id(segment_stem(segment), offset)
            files = (self.pool.begin(gen_id) if self.pool is not None else
                     PartitionFiles(self.store_root, gen_id, self.node_id, level=self.level,
                                    max_file_bytes=self.max_file_bytes))
            self._gen = _Generation(files, self.clock(), self._marks())
        return self._gen

    def _add(self, gen: _Generation, record, segment: str, offset: int, end: int) -> None:
        self.counts.records += 1
        if gen.oldest_received_ns is None or record.received_ns < gen.oldest_received_ns:
            gen.oldest_received_ns = record.received_ns
        if record.record_id in self._recent:
            self.counts.duplicates += 1  # re-appended after an fsync error: keep one
            return
        self._recent[record.record_id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        if self.pool is not None:  # counted when the workers finish (_count)
            detail = (None if self._guard.may_convert(segment, offset) else
                      self._quarantined(gen, record, segment, offset))
            self.pool.add(segment, offset, end, record, detail)
            return
        if self._guard.begin(segment, offset):
            result = self.converter.convert(record)
        else:
            detail = self._quarantined(gen, record, segment, offset)
            result = self.converter.quarantine(record, "converter_crash", detail)
        result.write(gen.written_here(), record.received_ns)
        self._guard.end()
        gen.days.add(self._day_of(record.received_ns), result.invalid_reason)
        if result.invalid_reason:
            self.counts.invalid += 1
        else:
            self.counts.converted += 1

    def _quarantined(self, gen: _Generation, record, segment: str, offset: int) -> str:
        """Count and log a record that crashed the converter `max_crashes` times;
        the detail of its invalid/ line."""
        where = f"{segment} offset {offset}"
        detail = (f"the converter process died {self.max_crashes} times in a row converting "
                  f"this record ({where}); it was not converted")
        print(f"converter: quarantined the record at {where} (id {record.id_hex}) in "
              f"invalid/ after {self.max_crashes} crashes", file=sys.stderr)
        self.counts.quarantined += 1
        self.counts.last_quarantined = where
        gen.quarantined = True
        return detail

    def _due(self) -> bool:
        gen = self._gen
        if gen is None:
            return False
        # A quarantine is committed at once: a second crashing record in the same
        # generation would otherwise bring the first one back after the restart.
        return (gen.quarantined or self.clock() - gen.started >= self.max_file_age
                or gen.files.raw_bytes >= self.max_file_bytes)

    def _waited(self) -> bool:
        """Whether the current generation's oldest record was received `max_file_age` ago
        or more: once there is no more work, it is committed without waiting for the
        generation itself to be that old (see the module docstring)."""
        oldest = self._gen.oldest_received_ns if self._gen is not None else None
        return oldest is not None and self.wall() - oldest >= self.max_file_age * 1e9

    # -- committing ---------------------------------------------------------

    def commit(self) -> None:
        """Publish the current generation (and one handed in before) and delete the
        segments it finished."""
        if self.pool is not None:
            self._hand_in()
            self._publish_handed_in()
            return
        gen = self._gen
        if gen is None:
            return
        files = gen.written_here()
        self._publish(gen, files.renames(files.finish_all()), self._offsets, self._frontier)
        self._gen = None

    def _commit_due(self) -> None:
        """A due generation: with workers, handed in while they go on with the next one
        (a quarantine is committed at once: see _due)."""
        if self.pool is None or (self._gen is not None and self._gen.quarantined):
            self.commit()
        else:
            self._hand_in()

    def _hand_in(self) -> None:
        """Ask the workers to finish the current generation (after publishing one handed
        in before: one at a time, in order)."""
        gen = self._gen
        if gen is None:
            return
        self._publish_handed_in()
        self._pool.hand_in()
        offsets = {k: v for k, v in self._offsets.items() if k not in gen.done_segments}
        self._handed_in = _HandedIn(gen, offsets, self._frontier)
        self._gen = None

    def _publish_handed_in(self) -> None:
        """Commit the handed-in generation, once the workers have answered."""
        handed = self._handed_in
        if handed is None:
            return
        tally = self._pool.tally()
        live, marks = self._gen, self._marks()
        self._count(handed.gen, tally)
        self._publish(handed.gen, tally.renames, handed.offsets, handed.frontier)
        self._handed_in = None  # only now: if this raised, _abandon drops it too
        self._guard.end()  # a worker's crash position recorded earlier is passed
        if live is not None:  # what this commit counted stays counted if `live` is dropped
            live.counts_before = _shifted(live.counts_before, marks, self._marks())

    def _publish(self, gen: _Generation, renames: list, offsets: dict[str, int],
                 frontier: tuple[str, int] | None) -> None:
        """Write the checkpoint of `gen` (the commit point), then apply it."""
        days = DayCounts(self._days.as_json())
        days.merge(gen.days)
        self.log.commit(Checkpoint(offsets=offsets, renames=renames, ledger=days.as_json(),
                                   delete=list(gen.done_segments), frontier=frontier))
        self._offsets = {k: v for k, v in self._offsets.items() if k not in gen.done_segments}
        self._days = days
        tmp = tmp_dir(self.store_root, gen.files.generation)
        if tmp.exists():
            tmp.rmdir()
        self.counts.commits += 1
        self.counts.files += len(renames)
        self.counts.segments_done += len(gen.done_segments)
        self._report()

    def _marks(self) -> tuple:
        """The counts to go back to if the generations begun from here are dropped."""
        converter = self.converter
        return replace(self.counts), Counter(converter.invalid_by_reason), converter.converted

    def _count(self, gen: _Generation, tally: Tally) -> None:
        """Add what the workers converted in a generation to the counts."""
        gen.days.merge(tally.days)
        invalid = sum(tally.invalid_by_reason.values())
        self.counts.converted += tally.converted
        self.counts.invalid += invalid
        self.converter.converted += tally.converted
        self.converter.invalid_by_reason.update(tally.invalid_by_reason)
        self.converter.unknown_histograms.merge(tally.unknown_histograms)

    def _report(self) -> None:
        self.counts.invalid_by_reason = dict(self.converter.invalid_by_reason)
        self.counts.unknown_histograms = self.converter.unknown_histograms.top()
        if self.on_report is not None:
            self.on_report(self.counts)


def _shifted(before: tuple, old: tuple, new: tuple) -> tuple:
    """`before` (see ConverterLoop._marks) plus what a commit counted between `old` and
    `new`: converted and invalid records, the commit, its files and segments."""
    counts = replace(before[0])
    for name in ("converted", "invalid", "commits", "files", "segments_done"):
        setattr(counts, name, getattr(counts, name) + getattr(new[0], name)
                - getattr(old[0], name))
    return counts, before[1] + (new[1] - old[1]), before[2] + new[2] - old[2]
