"""Conversion worker processes: `[converter] processes = N` with N >= 2.

The committing converter process (loop.py) stays the single owner of the
spool order, the gate, the crash guard, the frontier and the checkpoint. It
hands records in batches to N worker processes, each batch to the worker with
the fewest not yet acknowledged (at most QUEUED each: a worker always has its
next batch at hand, and the committer never waits on a busy worker while
another one waits for work); each worker converts its records and writes
them into its own partition files under the generation's `.tmp/` directory
(part numbers `index`, `index + N`, ...: they never collide, and keys keep
their form). At commit time the committer asks every worker to finish (fsync)
its files and return their renames and counts, then writes one checkpoint
with all of them: the commit stays atomic. It need not wait for the answers
(hand_in, then tally): each worker answers, then goes on with the next
generation's batches, which the committer hands out meanwhile.

A batch names its records by place (segment, offset, end of the frame), not by
content: each worker reads its records from the sealed segment itself
(`SegmentFrames`; the page cache holds them, the committer has just read them).
Sending the bodies down the pipes took about a quarter of the committer's time a
record (docs/performance.md, "A restart with a backlog, the workers' start, and
the records' way to them"). A segment
is deleted only by the commit of the generation that finished it, after every
worker has answered for that generation.

Before each record a worker writes its position into its own crash-guard file
(`.converting.<index>`). A worker that dies makes the committer record that
position in the converter's crash guard (as if it had died there itself) and
exit: the supervisor restarts the whole converter from the last checkpoint,
and a record that kills workers again and again is quarantined as before.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.convert.crashguard import GUARD_FILE, CrashGuard, arm_crash_marker
from appliance.convert.messages import MessageReader
from appliance.convert.segframes import SegmentFrames
from appliance.convert.topcounts import TopCounter
from appliance.ledger.converted import DayCounts
from appliance.ledger.dates import DayOf
from appliance.lifecycle import die_with_parent
from appliance.storage.partfiles import PartitionFiles

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

ACK = ("ack",)  # a worker's answer to a batch: it has room for another
DROPPED = ("dropped",)
QUEUED = 2  # batches a worker may hold: one converting, one waiting in its inbox

BATCH = 64  # records per message: amortises the pipe, keeps the workers evenly loaded


class WorkerDied(Exception):
    """A worker process ended; `position` is the record it was converting, if any."""

    def __init__(self, index: int, exitcode, position: tuple[str, int] | None):
        where = f"{position[0]} offset {position[1]}" if position else "no record"
        super().__init__(f"converter worker {index} died (exit code {exitcode}) converting "
                         f"{where}")
        self.position = position


@dataclass
class Tally:
    """What the workers wrote in one generation, summed."""

    renames: list[tuple[str, str]] = field(default_factory=list)
    days: DayCounts = field(default_factory=DayCounts)
    converted: int = 0
    invalid_by_reason: Counter = field(default_factory=Counter)
    unknown_histograms: dict[str, int] = field(default_factory=dict)


@dataclass
class PooledGeneration:
    """The committer's view of a generation written by workers (see ConverterLoop._due)."""

    generation: str
    raw_bytes: int = 0  # bytes of record bodies handed out (the files are the workers')


def guard_path(store_root: Path, index: int) -> Path:
    """Worker `index`'s crash-guard file."""
    return store_root / f"{GUARD_FILE}.{index}"


class ConverterPool:
    """N worker processes converting and writing for one committer."""

    def __init__(self, config, processes: int, *, make_converter, spool_root: Path,
                 store_root: Path, node_id: str, level: int, max_file_bytes: int,
                 batch: int = BATCH):
        """`make_converter(config)` builds each worker's RecordConverter; a module-level
        function (spawned workers receive it by its qualified name). The workers read
        the records from the sealed segments in `spool_root`."""
        self.processes = processes
        self.store_root = store_root
        self.batch = batch
        self._settings = (config, make_converter, spool_root, store_root, node_id, level,
                          max_file_bytes)
        self._procs: list = []
        self._conns: list[Connection] = []
        self._pending: list[tuple] = []
        self._queued: list[int] = []  # per worker: batches not yet acknowledged
        self._finishing: list[int] = []  # workers asked to finish, by hand_in()
        self._answers: dict[int, tuple] = {}  # their answers so far
        self._gen: PooledGeneration | None = None

    def start(self) -> None:
        """Start the workers. Forked if this process runs no other thread: they inherit its
        loaded modules and are ready in milliseconds, where a spawned worker imports them
        again (~0.5 s). Spawned otherwise: a fork beside a running thread can leave the
        child a lock that thread held, held forever (the frozen binary runs spawned
        workers through freeze_support)."""
        import multiprocessing  # here: the converter child with 1 process never needs it

        ctx = (multiprocessing.get_context("fork") if threading.active_count() == 1
               else multiprocessing.get_context("spawn"))
        for index in range(self.processes):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_main, name=f"converter-worker-{index}",
                               args=(index, self.processes, self._settings, theirs),
                               daemon=True)
            proc.start()
            theirs.close()
            self._procs.append(proc)
            self._conns.append(ours)
            self._queued.append(0)

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (none before they start)."""
        return [proc.pid for proc in self._procs]

    @property
    def _current(self) -> PooledGeneration:
        """The generation begun last (records are added only after begin())."""
        if self._gen is None:
            raise RuntimeError("no generation begun")
        return self._gen

    def begin(self, generation: str) -> PooledGeneration:
        """A new generation: the workers' next records go into its files."""
        self._gen = PooledGeneration(generation)
        return self._gen

    def add(self, segment: str, offset: int, end: int, record,
            quarantine: str | None) -> None:
        """Queue the record framed at `offset`..`end` of sealed segment `segment` (or, with
        `quarantine` set, its invalid/ line with that detail). `record` is the committer's
        copy, for the generation's size: the worker reads its own."""
        self._pending.append((segment, offset, end, quarantine))
        self._current.raw_bytes += len(record.body)
        if len(self._pending) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        if not self._procs:  # at the first record (the server's converter starts them at once)
            self.start()
        index = self._free_worker()
        self._send(index, ("batch", self._current.generation, self._pending))
        self._queued[index] += 1
        self._pending = []

    def _free_worker(self) -> int:
        """The worker with the fewest batches in hand, once it has fewer than QUEUED
        (waiting for an ACK if need be)."""
        from multiprocessing.connection import wait  # as in start()

        while min(self._queued) >= QUEUED:
            ready = wait(self._conns)
            for index, conn in enumerate(self._conns):
                if conn in ready:
                    self._take(index)
        return self._queued.index(min(self._queued))

    def _take(self, index: int) -> None:
        """Read worker `index`'s next message: the ACK of a batch, or its answer to
        "finish" (kept for tally())."""
        reply = self._recv(index)
        if reply == ACK:
            self._queued[index] -= 1
        else:
            self._answers[index] = reply

    def hand_in(self) -> None:
        """Ask every worker to finish (fsync) the current generation's files, and go on at
        once: the next records start the next generation, which each worker begins after
        it has answered. tally() collects the answers."""
        self._flush()
        self._gen = None
        self._finishing = list(range(len(self._conns)))  # none if no record was handed out
        self._answers = {}
        for index in self._finishing:
            self._send(index, ("finish",))

    def finished(self) -> bool:
        """Whether every worker has answered the last hand_in() (reads, never waits)."""
        for index in self._finishing:
            while index not in self._answers and self._conns[index].poll():
                self._take(index)
        return all(index in self._answers for index in self._finishing)

    def tally(self) -> Tally:
        """The answers to the last hand_in(): every worker's files finished and fsynced,
        their renames and counts, summed (waits for them). A worker's write error
        (ENOSPC) is raised once all have answered."""
        tally, error = Tally(), None
        for index in self._finishing:
            while index not in self._answers:
                self._take(index)
            reply = self._answers[index]
            if reply[0] == "error":
                error = OSError(reply[1], reply[2])
                continue
            _, renames, days, converted, invalid, unknown = reply
            tally.renames += renames
            tally.days.merge(DayCounts(days))
            tally.converted += converted
            tally.invalid_by_reason.update(invalid)
            for name, n in unknown.items():
                tally.unknown_histograms[name] = tally.unknown_histograms.get(name, 0) + n
        self._finishing, self._answers = [], {}
        if error is not None:
            raise error
        return tally

    def drop(self) -> None:
        """Forget the current generation, and one handed in (their files are deleted by the
        committer's recovery)."""
        self._pending, self._gen = [], None
        started = range(len(self._conns))  # none before the first generation
        for index in started:
            self._send(index, ("drop",))
        for index in started:  # what comes before "dropped": ACKs, an answer to "finish"
            while self._recv(index) != DROPPED:
                pass
            self._queued[index] = 0
        self._finishing, self._answers = [], {}

    def close(self) -> None:
        """Stop the workers (after a commit: they hold nothing); they start again on use."""
        for conn in self._conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        for proc in self._procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._procs, self._conns, self._queued, self._pending, self._gen = [], [], [], [], None
        self._finishing, self._answers = [], {}

    def _send(self, index: int, message) -> None:
        try:
            self._conns[index].send(message)
        except OSError:
            raise self._died(index) from None

    def _recv(self, index: int):
        try:
            return self._conns[index].recv()
        except (EOFError, OSError):
            raise self._died(index) from None

    def _died(self, index: int) -> WorkerDied:
        proc = self._procs[index]
        proc.join(5)
        guard = CrashGuard(guard_path(self.store_root, index))
        guard.close()
        return WorkerDied(index, proc.exitcode, guard.suspect)


class _Worker:
    """One worker process's state: its converter and the current generation's files."""

    def __init__(self, index: int, processes: int, settings):
        (config, make_converter, spool_root, self.store_root, self.node_id, self.level,
         self.max_file_bytes) = settings
        self.index, self.processes = index, processes
        self.frames = SegmentFrames(spool_root)
        self.converter = make_converter(config)
        arm_crash_marker(self.converter)
        path = guard_path(self.store_root, index)
        path.unlink(missing_ok=True)  # it says only what this process is doing
        self.guard = CrashGuard(path)
        self.day_of = DayOf()
        self.reset()

    def reset(self) -> None:
        """A new generation: no files, no error, counts from zero, no segment open (its
        commit may delete the segments read so far)."""
        self.frames.close()
        self.files: PartitionFiles | None = None
        self.error: OSError | None = None
        self.days = DayCounts()
        self.converter.converted = 0
        self.converter.invalid_by_reason = Counter()
        self.converter.unknown_histograms = TopCounter()

    def batch(self, generation: str, items) -> None:
        if self.error is not None:
            return  # this generation is dropped: the committer is told at finish
        records = [(segment, offset, self.frames.read(segment, offset, end), quarantine)
                   for segment, offset, end, quarantine in items]
        if self.files is None:
            self.files = PartitionFiles(self.store_root, generation, self.node_id,
                                        level=self.level, max_file_bytes=self.max_file_bytes,
                                        first_part=self.index, part_step=self.processes)
        try:
            for segment, offset, record, quarantine in records:
                # One write a record: the next record's position replaces this one's, and
                # the batch ends with end(). (A death between two records, within
                # microseconds, counts as a crash at the first; it takes 3 in a row.)
                self.guard.begin(segment, offset)
                if quarantine is None:
                    result = self.converter.convert(record)
                else:
                    result = self.converter.quarantine(record, "converter_crash", quarantine)
                result.write(self.files, record.received_ns)
                self.days.add(self.day_of(record.received_ns), result.invalid_reason)
            self.guard.end()  # before waiting for the next batch
        except OSError as e:  # ENOSPC, say: the committer drops the generation and pauses
            self.error = e
            with contextlib.suppress(OSError):  # the guard's own write may be what failed
                self.guard.end()

    def finish(self):
        files, self.files = self.files, None
        try:
            if self.error is not None:
                raise self.error
            done = files.finish_all() if files is not None else []
        except OSError as e:
            return ("error", e.errno, e.strerror or str(e))
        c = self.converter
        return ("done", files.renames(done) if done else [], self.days.as_json(), c.converted,
                dict(c.invalid_by_reason), c.unknown_histograms.top())


def worker_main(index: int, processes: int, settings, conn: Connection) -> None:
    """A worker process: serve the committer's messages until "stop" or its end."""

    # The committer decides when to stop (a SIGTERM to the whole group, from systemd
    # say, must not end a worker before the committer has its last commit); if the
    # committer dies, so does the worker, at once.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    die_with_parent(signal.SIGKILL)
    worker = _Worker(index, processes, settings)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(target=_receive, args=(MessageReader(conn.fileno()), inbox), name="inbox",
                     daemon=True).start()
    while True:
        message = inbox.get()
        kind = message[0]
        if kind == "batch":
            worker.batch(message[1], message[2])
            conn.send(ACK)
        elif kind == "finish":
            conn.send(worker.finish())
            worker.reset()
        elif kind == "drop":
            worker.reset()
            conn.send(DROPPED)
        else:
            return


def _receive(conn: MessageReader, inbox: queue.SimpleQueue) -> None:
    """Move the committer's messages into `inbox` as they come, so that its next batch
    is never stuck behind the one being converted; ("stop",) at the end.

    Whatever ends this thread ends the worker too, never leaves it waiting: an error
    (its traceback goes to stderr, the converter's log) makes the committer see the
    worker die, and the converter restarts from its last commit."""
    try:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the committer is gone
                message = ("stop",)
            inbox.put(message)
            if message[0] == "stop":
                return
    except BaseException:
        inbox.put(("stop",))
        raise
