"""Spool torture: concurrent appenders, kill -9, short writes, EFBIG, fsync EIO, rotation.

Each test ends with the same checker (`check_spool`): read every segment of
the spool directory, find every record and every damaged region, and verify
that good frames and damaged regions tile each file. The control in
`test_interleave_two_writes_per_record_is_detected` shows the checker fails
when records are written the wrong way.

Children are forked (multiprocessing "fork"), so they share this module's code
without pickling. Killed children report acknowledged record ids over a raw
pipe, one os.write per append of at most PIPE_BUF bytes, so a kill never tears
a report.
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import multiprocessing
import os
import random
import resource
import select
import signal
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import appliance.spool.appender as appender_mod
from appliance.spool import frame
from appliance.spool.appender import SegmentAppender
from appliance.spool.reader import DamagedRegion, ReadReport, iter_buffer
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.spool.segments import SpoolDir

FORK = multiprocessing.get_context("fork")
ID = 16  # bytes in a record id
HUGE = 1 << 40


# -- records and the checker ------------------------------------------------------


def log_size(rnd: random.Random, max_bits: int) -> int:
    """A size from 1 to 2**max_bits bytes, uniform in its logarithm."""
    return max(1, int(2 ** rnd.uniform(0, max_bits)))


def make_record(ids: RecordIds, body: bytes) -> SpoolRecord:
    return SpoolRecord(record_id=ids.next(), received_ns=time.time_ns(), path="/submit/t",
                       body=body, headers={"x-sha256": hashlib.sha256(body).hexdigest()})


@dataclass
class SpoolCheck:
    """Everything found in a spool directory."""

    copies: dict[bytes, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    digests: dict[bytes, str] = field(default_factory=dict)
    damaged: dict[str, list[DamagedRegion]] = field(default_factory=dict)
    bad_body: list[bytes] = field(default_factory=list)
    not_tiled: list[str] = field(default_factory=list)

    @property
    def damaged_regions(self) -> int:
        return sum(len(d) for d in self.damaged.values())

    def missing(self, ids) -> set[bytes]:
        return {i for i in ids if i not in self.copies}

    def duplicated(self) -> set[bytes]:
        return {i for i, c in self.copies.items() if len(c) > 1}

    def segments_of(self, record_id: bytes) -> list[str]:
        return [seg for seg, _ in self.copies[record_id]]


def check_spool(root: Path) -> SpoolCheck:
    """Read every segment; record where each record is and every damaged region."""
    check = SpoolCheck()
    for seg in SpoolDir(root).all_segments():
        report = ReadReport()
        with open(seg, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                check.damaged[seg.name] = []
                continue
            with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as buf:
                pieces = []
                for offset, rec in iter_buffer(buf, report):
                    pieces.append((offset, offset + frame.frame_size(rec)))
                    check.copies[rec.record_id].append((seg.name, offset))
                    digest = hashlib.sha256(rec.body).hexdigest()
                    if rec.headers.get("x-sha256") != digest:
                        check.bad_body.append(rec.record_id)
                    if check.digests.setdefault(rec.record_id, digest) != digest:
                        check.bad_body.append(rec.record_id)  # two copies differ
        check.damaged[seg.name] = report.damaged
        pieces += [(d.offset, d.offset + d.length) for d in report.damaged]
        pieces.sort()
        pos = 0
        for start, end in pieces:
            if start != pos:
                check.not_tiled.append(seg.name)
                break
            pos = end
        else:
            if pos != size:
                check.not_tiled.append(seg.name)
    return check


def _child(conn, target, *args):
    """Run target in a forked child; send its result or its traceback over conn."""
    try:
        conn.send(("ok", target(*args)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def start_children(jobs: list[tuple]) -> list:
    """Fork one child per (target, *args)."""
    procs = []
    for target, *args in jobs:
        parent_end, child_end = FORK.Pipe(duplex=False)
        p = FORK.Process(target=_child, args=(child_end, target, *args))
        p.start()
        child_end.close()
        procs.append((p, parent_end))
    return procs


def collect(procs: list, timeout: float = 60) -> list:
    """Each child's result, in order, once it has sent it and exited."""
    results = []
    for p, conn in procs:
        if not conn.poll(timeout):
            raise AssertionError(f"child {p.pid} gave no result in {timeout}s")
        status, value = conn.recv()
        p.join()
        assert status == "ok", value
        assert p.exitcode == 0
        results.append(value)
    return results


def run_children(jobs: list[tuple], timeout: float = 60) -> list:
    return collect(start_children(jobs), timeout)


# -- 1. interleave torture ---------------------------------------------------------

PROCS = 8
PER_PROC = 200


def _interleave_writer(root: str, seed: int, start, two_writes: bool):
    rnd = random.Random(seed)
    ids = RecordIds()
    # Sizes 1 B - 1 MiB, uniform in log: about a fifth are over 64 KiB.
    records = [make_record(ids, rnd.randbytes(log_size(rnd, 20))) for _ in range(PER_PROC)]
    written = [(r.record_id, r.headers["x-sha256"]) for r in records]
    start.wait(30)  # a Barrier: raises rather than hangs if a sibling died
    if two_writes:
        # The wrong way: header, then the rest, as two calls.
        fd = os.open(Path(root) / "current.seg", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        for r in records:
            data = b"".join(frame.encode(r))
            assert os.write(fd, data[:frame.HEADER_SIZE]) == frame.HEADER_SIZE
            rest = data[frame.HEADER_SIZE:]
            assert os.write(fd, rest) == len(rest)
        os.close(fd)
    else:
        app = SegmentAppender(SpoolDir(root), max_segment_bytes=HUGE, max_segment_age=1e9,
                              fsync=False)
        for r in records:
            res = app.append([r])
            assert res.acked == 1 and res.error is None, res
        app.close()
    return written, sum(len(r.body) > 64 << 10 for r in records)


def _interleave(root: Path, two_writes: bool):
    root.mkdir()
    # Children generate their records first, then all start writing at once.
    start = FORK.Barrier(PROCS)
    results = run_children([(_interleave_writer, str(root), seed, start, two_writes)
                            for seed in range(PROCS)])
    written = {i: d for w, _big in results for i, d in w}
    big = sum(big for _w, big in results)
    return written, big, check_spool(root)


@pytest.mark.slow
def test_interleave_torture_appender(tmp_path):
    written, big, check = _interleave(tmp_path / "spool", two_writes=False)
    assert len(written) == PROCS * PER_PROC
    assert big > 50  # records larger than 64 KiB were part of it
    assert check.damaged_regions == 0
    assert check.not_tiled == []
    assert check.missing(written) == set()
    assert check.duplicated() == set()
    assert set(check.copies) == set(written)  # nothing that was not written
    assert check.bad_body == []
    assert all(check.digests[i] == d for i, d in written.items())


@pytest.mark.slow
def test_interleave_two_writes_per_record_is_detected(tmp_path):
    """The control: the same checker must catch header and body written separately."""
    written, _big, check = _interleave(tmp_path / "spool", two_writes=True)
    missing = check.missing(written)
    assert check.damaged_regions > 0 or missing, "the checker missed interleaved writes"
    # It detects, and never invents: whatever it yields was written, intact.
    assert set(check.copies) <= set(written)
    assert check.bad_body == []
    assert check.not_tiled == []
    print(f"control: {len(missing)} records lost, {check.damaged_regions} damaged regions")


# -- 2. kill -9 ----------------------------------------------------------------------


def _acking_writer(root: str, wfd: int, seed: int, max_segment_bytes: int,
                   max_segment_age: float, max_bits: int, stop_at: float | None,
                   seal_log: str | None = None):
    """Append batches forever (or until stop_at); report acked ids on wfd after each.

    With `seal_log` (used only in a child, which owns its copy of the classes):
    log each segment this process seals with its size right after sealing, and
    widen the race between a writer's inode check and its write, so that a
    sealing protocol that does not wait out writers in flight gets caught.
    """
    rnd = random.Random(seed)
    if seal_log is not None:
        _instrument_sealing(seal_log, rnd)
    ids = RecordIds()
    app = SegmentAppender(SpoolDir(root), max_segment_bytes=max_segment_bytes,
                          max_segment_age=max_segment_age, fsync=True)
    while stop_at is None or time.monotonic() < stop_at:
        batch = [make_record(ids, rnd.randbytes(log_size(rnd, max_bits)))
                 for _ in range(rnd.randint(1, 4))]
        res = app.append(batch)
        if res.error is not None or res.acked != len(batch):
            raise AssertionError(f"append failed: {res}")
        msg = b"".join(r.record_id for r in batch)
        assert len(msg) <= select.PIPE_BUF  # one atomic pipe write
        os.write(wfd, msg)
    app.close()
    return None


def _instrument_sealing(seal_log: str, rnd: random.Random) -> None:
    finish_sealing = SpoolDir.finish_sealing
    lock_current = SegmentAppender._lock_current

    def logged_finish_sealing(self, rotating):
        sealed = finish_sealing(self, rotating)
        line = f"{sealed.name} {sealed.stat().st_size}\n".encode()
        fd = os.open(seal_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(fd, line)
        os.close(fd)
        return sealed

    def slow_lock_current(self):
        fd = lock_current(self)
        if rnd.random() < 0.1:
            time.sleep(0.0005)  # not synchronisation: holds the race window open
        return fd

    SpoolDir.finish_sealing = logged_finish_sealing
    SegmentAppender._lock_current = slow_lock_current


class Writers:
    """Forked writer processes, each with a pipe of acked ids."""

    def __init__(self, root: Path, **kwargs):
        self.root = root
        self.kwargs = kwargs
        self.procs: dict[int, multiprocessing.Process] = {}  # read fd -> process
        self.pending: dict[int, bytes] = {}
        self.acked: set[bytes] = set()
        self.exitcodes: list[int] = []
        self._seed = 0

    def start(self) -> None:
        r, w = os.pipe()
        self._seed += 1
        p = FORK.Process(target=self._run, args=(w, self._seed))
        p.start()
        os.close(w)  # later children must not inherit it, or EOF never comes
        self.procs[r] = p
        self.pending[r] = b""

    def _run(self, w, seed):
        for fd in self.procs:
            os.close(fd)
        try:
            _acking_writer(str(self.root), w, seed, **self.kwargs)
        except BaseException:
            traceback.print_exc()
            os._exit(3)

    def _take(self, r: int, data: bytes) -> None:
        data = self.pending[r] + data
        whole = len(data) - len(data) % ID
        self.acked.update(data[i:i + ID] for i in range(0, whole, ID))
        self.pending[r] = data[whole:]

    def poll(self, timeout: float) -> list[int]:
        """Read reports; return the read fds of writers that exited (EOF)."""
        ready, _, _ = select.select(list(self.procs), [], [], timeout)
        ended = []
        for r in ready:
            data = os.read(r, 1 << 16)
            if data:
                self._take(r, data)
            else:
                ended.append(r)
        return ended

    def reap(self, r: int) -> None:
        """Wait for a writer to exit, then read its last reports up to EOF."""
        p = self.procs.pop(r)
        p.join()
        self.exitcodes.append(p.exitcode)
        while data := os.read(r, 1 << 16):
            self._take(r, data)
        assert self.pending.pop(r) == b""  # reports are never torn
        os.close(r)

    def kill(self, r: int) -> None:
        os.kill(self.procs[r].pid, signal.SIGKILL)
        self.reap(r)


KILLS = 40       # kill -9s of a writer, at random moments 30-120 ms apart
MIN_ACKED = 100  # and at least this many acknowledged records to check


@pytest.mark.slow
def test_kill9_writers_lose_nothing_acked(tmp_path):
    root = tmp_path / "spool"
    root.mkdir()
    rnd = random.Random(1234)
    # Records up to 256 KiB, so kills land inside writes; small segments, so
    # some kills land inside sealing too (left as rotating-*, finished by recover()).
    writers = Writers(root, max_segment_bytes=2 << 20, max_segment_age=0.2, max_bits=18,
                      stop_at=None)
    for _ in range(3):
        writers.start()
    # Count kills and acks, not seconds: on a loaded machine the writers start slower.
    kills = 0
    next_kill = time.monotonic() + rnd.uniform(0.03, 0.12)
    unexpected = []
    while kills < KILLS or len(writers.acked) <= MIN_ACKED:
        for r in writers.poll(max(0.0, next_kill - time.monotonic())):
            unexpected.append(r)  # a writer ended by itself: an error in it
            writers.reap(r)
            writers.start()
        if time.monotonic() >= next_kill:
            writers.kill(rnd.choice(list(writers.procs)))
            kills += 1
            writers.start()
            next_kill = time.monotonic() + rnd.uniform(0.03, 0.12)
    for r in list(writers.procs):
        writers.kill(r)
        kills += 1
    assert unexpected == [], writers.exitcodes
    assert all(code == -signal.SIGKILL for code in writers.exitcodes), writers.exitcodes

    spool = SpoolDir(root)
    spool.recover()
    assert not list(root.glob("rotating-*"))
    check = check_spool(root)
    assert check.missing(writers.acked) == set()
    assert check.duplicated() == set()
    assert check.bad_body == []
    # Tears appear only as counted damaged regions: at most one per kill.
    assert check.not_tiled == []
    assert check.damaged_regions <= kills
    unacked = len(check.copies) - len(writers.acked)
    print(f"kill -9: {kills} kills, {len(writers.acked)} acked, {unacked} durable but "
          f"unacked, {check.damaged_regions} damaged regions, "
          f"{len(spool.sealed_segments())} sealed segments")


# -- 3. short writes and EFBIG --------------------------------------------------------

BATCH = 3


def _fsize_child(root: str, limit: int, batches: int):
    """Append fixed-size batches under RLIMIT_FSIZE; log each result."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    app = SegmentAppender(SpoolDir(root), max_segment_bytes=HUGE, max_segment_age=1e9,
                          fsync=True)
    ids = RecordIds()
    rnd = random.Random(5)
    log = []
    for _ in range(batches):
        batch = [make_record(ids, rnd.randbytes(10_000)) for _ in range(BATCH)]
        res = app.append(batch)
        log.append(([r.record_id for r in batch], res.acked,
                     res.error.errno if res.error else None, res.sealed))
    app.close()
    return log


@pytest.mark.parametrize("where", ["mid-frame", "at-frame-boundary"])
def test_rlimit_fsize_short_write_and_efbig(tmp_path, where):
    root = tmp_path / "spool"
    root.mkdir()
    sample = make_record(RecordIds(), b"\0" * 10_000)
    size = frame.frame_size(sample)  # every record's frame has this size
    if where == "mid-frame":
        # Three batches fill 9 frames; the fourth writes one whole frame and is
        # cut in the middle of its second one (a short write, then EFBIG).
        limit, first_acked = 10 * size + size // 2, 1
    else:
        # Three batches fill the limit exactly; the fourth write fails with EFBIG.
        limit, first_acked = 9 * size, 0
    (log,) = run_children([(_fsize_child, str(root), limit, 8)])
    acked_counts = [acked for _ids, acked, _e, _s in log]
    assert acked_counts == [3, 3, 3, first_acked, 3, 3, 3, first_acked]
    for i in (3, 7):
        _ids, acked, err, sealed = log[i]
        assert acked < BATCH and err == errno.EFBIG and sealed == 1  # rotated
    for i in (0, 1, 2, 4, 5, 6):
        assert log[i][2] is None

    acked = {i for ids, n, _e, _s in log for i in ids[:n]}
    unacked = {i for ids, n, _e, _s in log for i in ids[n:]}
    check = check_spool(root)
    assert check.missing(acked) == set()  # nothing acked is lost
    assert check.duplicated() == set() and check.bad_body == [] and check.not_tiled == []
    assert not unacked & set(check.copies)  # the failed records are not readable
    sealed = SpoolDir(root).sealed_segments()
    assert len(sealed) == 2
    # Later appends went to a fresh segment.
    assert {check.segments_of(i)[0] for i in log[0][0]} == {sealed[0].name}
    assert {check.segments_of(i)[0] for i in log[4][0]} == {sealed[1].name}
    assert {check.segments_of(i)[0] for i in log[0][0]} != {sealed[1].name}
    for seg in sealed:
        if where == "mid-frame":
            # The torn frame at the tail, one region.
            assert seg.stat().st_size == limit
            assert check.damaged[seg.name] == [DamagedRegion(10 * size, size // 2)]
        else:
            assert seg.stat().st_size == limit
            assert check.damaged[seg.name] == []
    assert not (root / "current.seg").exists() or check.damaged["current.seg"] == []


def _records(ids: RecordIds, n: int, rnd: random.Random) -> list[SpoolRecord]:
    return [make_record(ids, rnd.randbytes(rnd.randint(100, 5000))) for _ in range(n)]


@pytest.mark.parametrize("cut_frame", [0, 1])
def test_injected_short_write(tmp_path, monkeypatch, cut_frame):
    root = tmp_path / "spool"
    spool = SpoolDir(root)
    spool.create()
    app = SegmentAppender(spool, max_segment_bytes=HUGE, max_segment_age=1e9, fsync=True)
    ids, rnd = RecordIds(), random.Random(3)
    before = _records(ids, 4, rnd)
    assert app.append(before).acked == 4
    size_before = spool.current.stat().st_size

    batch = _records(ids, 3, rnd)
    frame_sizes = [frame.frame_size(r) for r in batch]
    whole = sum(frame_sizes[:cut_frame])
    cut = whole + frame_sizes[cut_frame] // 2
    calls = []

    def short_writev(fd, buffers):
        data = b"".join(buffers)
        calls.append(len(data))
        return os.write(fd, data[:cut])  # the kernel wrote only part

    monkeypatch.setattr(appender_mod.os, "writev", short_writev)
    res = app.append(batch)
    monkeypatch.undo()
    assert calls == [sum(frame_sizes)]  # one call for the batch, never "the rest"
    assert res.acked == cut_frame < len(batch)
    assert res.error is not None and res.error.errno == errno.ENOSPC
    assert spool.current.stat().st_size == size_before + cut

    after = _records(ids, 5, rnd)
    res = app.append(after)
    assert res.acked == 5 and res.error is None
    app.close()

    check = check_spool(root)
    acked = [r.record_id for r in before + batch[:cut_frame] + after]
    assert check.missing(acked) == set()
    assert not {r.record_id for r in batch[cut_frame:]} & set(check.copies)
    assert check.duplicated() == set() and check.bad_body == [] and check.not_tiled == []
    # The torn record is one damaged region; the later records read after it.
    assert check.damaged["current.seg"] == [
        DamagedRegion(size_before + whole, frame_sizes[cut_frame] // 2)]
    assert check.copies[after[0].record_id] == [("current.seg", size_before + cut)]


# -- 4. fdatasync EIO ------------------------------------------------------------------


def inject_fdatasync_eio(monkeypatch, failures: int) -> dict:
    real = os.fdatasync
    state = {"left": failures, "calls": 0}

    def fdatasync(fd):
        state["calls"] += 1
        if state["left"] > 0:
            state["left"] -= 1
            raise OSError(errno.EIO, "injected fdatasync failure")
        return real(fd)

    monkeypatch.setattr(appender_mod.os, "fdatasync", fdatasync)
    return state


def test_fdatasync_eio_once_reappends_to_fresh_segment(tmp_path, monkeypatch):
    root = tmp_path / "spool"
    spool = SpoolDir(root)
    spool.create()
    app = SegmentAppender(spool, max_segment_bytes=HUGE, max_segment_age=1e9, fsync=True)
    ids, rnd = RecordIds(), random.Random(4)
    a, b, c = _records(ids, 3, rnd), _records(ids, 4, rnd), _records(ids, 2, rnd)
    assert app.append(a).acked == 3
    old_inode = spool.current.stat().st_ino

    state = inject_fdatasync_eio(monkeypatch, 1)
    res = app.append(b)
    assert state["calls"] == 2 and state["left"] == 0
    assert res.acked == len(b) and res.error is None
    assert res.reappended and res.sealed == 1
    monkeypatch.undo()
    # The old segment is sealed; the batch went again into a fresh current.seg.
    (sealed,) = spool.sealed_segments()
    assert sealed.stat().st_ino == old_inode
    assert spool.current.stat().st_ino != old_inode
    assert app.append(c).acked == 2
    app.close()

    check = check_spool(root)
    assert check.damaged_regions == 0 and check.bad_body == [] and check.not_tiled == []
    for r in a:
        assert check.segments_of(r.record_id) == [sealed.name]
    for r in b:  # twice, with the same id (and, checked above, the same body)
        assert check.segments_of(r.record_id) == [sealed.name, "current.seg"]
    for r in c:
        assert check.segments_of(r.record_id) == ["current.seg"]
    # Dedup by id yields each record exactly once.
    deduped = {}
    for seg in spool.all_segments():
        with open(seg, "rb") as f:
            for _off, rec in iter_buffer(f.read()):
                assert deduped.setdefault(rec.record_id, rec) == rec
    assert list(deduped) == [r.record_id for r in a + b + c]


def test_fdatasync_eio_twice_fails_the_batch(tmp_path, monkeypatch):
    root = tmp_path / "spool"
    spool = SpoolDir(root)
    spool.create()
    app = SegmentAppender(spool, max_segment_bytes=HUGE, max_segment_age=1e9, fsync=True)
    ids, rnd = RecordIds(), random.Random(5)
    a, b, c = _records(ids, 3, rnd), _records(ids, 4, rnd), _records(ids, 2, rnd)
    assert app.append(a).acked == 3

    state = inject_fdatasync_eio(monkeypatch, 2)
    res = app.append(b)
    assert state["calls"] == 2
    assert res.acked == 0
    assert res.error is not None and res.error.errno == errno.EIO
    assert res.reappended
    monkeypatch.undo()
    # Both segments the batch touched are sealed; nothing more is written to them.
    assert len(spool.sealed_segments()) == 2
    assert not spool.current.exists()
    assert app.append(c).acked == 2
    app.close()

    check = check_spool(root)
    assert check.missing(r.record_id for r in a + c) == set()
    assert check.damaged_regions == 0 and check.bad_body == [] and check.not_tiled == []
    assert all(check.segments_of(r.record_id) == ["current.seg"] for r in c)


# -- 5. rotation under concurrent writers ---------------------------------------------


@pytest.mark.slow
def test_rotation_under_concurrent_writers(tmp_path):
    root = tmp_path / "spool"
    root.mkdir()
    stop_at = time.monotonic() + 3.0
    seal_log = tmp_path / "seals.log"
    writers = Writers(root, max_segment_bytes=64 << 10, max_segment_age=0.01, max_bits=13,
                      stop_at=stop_at, seal_log=str(seal_log))
    for _ in range(4):
        writers.start()
    first_seen: dict[str, tuple[int, int]] = {}
    while writers.procs:
        for r in writers.poll(0.003):
            writers.reap(r)
        # Snapshot each sealed segment the first time it is seen.
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.startswith("sealed-") and entry.name not in first_seen:
                    st = entry.stat()
                    first_seen[entry.name] = (st.st_size, st.st_mtime_ns)
        assert time.monotonic() < stop_at + 30, "writers did not stop"
    assert writers.exitcodes == [0, 0, 0, 0]

    spool = SpoolDir(root)
    sealed = spool.sealed_segments()
    assert not list(root.glob("rotating-*"))
    assert len(sealed) >= 50  # rotation every few ms
    assert len(first_seen) >= len(sealed) // 2
    # A sealed segment was never written again.
    for name, (size, mtime) in first_seen.items():
        st = (root / name).stat()
        assert (st.st_size, st.st_mtime_ns) == (size, mtime), name
    # ...nor after its sealer fsynced it and gave it its sealed name.
    at_seal = dict(line.split() for line in seal_log.read_text().splitlines())
    assert sorted(at_seal) == [p.name for p in sealed]
    grown = {n: (int(size), (root / n).stat().st_size) for n, size in at_seal.items()
             if (root / n).stat().st_size != int(size)}
    assert grown == {}, f"written after sealing: {grown}"

    check = check_spool(root)
    assert all(check.damaged[p.name] == [] for p in sealed)
    assert check.damaged_regions == 0 and check.not_tiled == [] and check.bad_body == []
    assert check.duplicated() == set()  # no record in two segments
    assert check.missing(writers.acked) == set()
    assert set(check.copies) == writers.acked
    print(f"rotation: {len(sealed)} sealed segments, {len(writers.acked)} records")
