"""ConverterPool hands each batch to a worker with room for it, not round robin; each worker
reads its records from the segment; a worker's inbox always ends with a stop."""

from __future__ import annotations

import os
import queue
from collections import Counter

import pytest

from appliance.convert.crashguard import CrashGuard
from appliance.convert.records import Converted
from appliance.convert.topcounts import TopCounter
from appliance.convert.workers import QUEUED, ConverterPool, _receive, guard_path
from appliance.spool import SegmentAppender, SpoolDir, SpoolRecord
from appliance.spool.reader import iter_frames
from tests.integration.serverproc import eventually

HOLD = b"hold:"  # a body `hold:<fifo>` keeps its worker busy until the fifo is opened


class HoldingConverter:
    """A worker's converter (spawned workers find it by name): every record goes to one
    partition as it is; a `hold:<fifo>` record first waits for a writer of that fifo."""

    def __init__(self):
        self.converted = 0
        self.invalid_by_reason: Counter = Counter()
        self.unknown_histograms = TopCounter()

    def convert(self, record: SpoolRecord) -> Converted:
        if record.body.startswith(HOLD):
            with open(record.body[len(HOLD):], "rb") as fifo:  # blocks until opened for writing
                fifo.read()
        self.converted += 1
        return Converted("p", record.body + b"\n")


def holding_converter(config) -> HoldingConverter:
    return HoldingConverter()


def record(n: int, body: bytes) -> SpoolRecord:
    return SpoolRecord(n.to_bytes(16, "big"), 1_795_000_000 * 10**9, "/submit/x", body)


def spooled(tmp_path, bodies: list[bytes]) -> list[tuple[str, int, int, SpoolRecord]]:
    """A sealed segment in `tmp_path/spool` with a record of each body: what the pool is
    handed for each (segment name, offset, end, record)."""
    spool = SpoolDir(tmp_path / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=3600,
                               fsync=False)
    appender.append([record(n, body) for n, body in enumerate(bodies)])
    appender.rotate()
    segment = spool.sealed_segments()[-1]
    return [(segment.name, offset, end, rec)
            for offset, end, rec in iter_frames(segment.read_bytes())]


def pool_of(tmp_path, batch: int) -> ConverterPool:
    """A pool of 2 workers with holding converters over `tmp_path`'s spool and store."""
    store = tmp_path / "store"
    store.mkdir()
    return ConverterPool(None, 2, make_converter=holding_converter,
                         spool_root=tmp_path / "spool", store_root=store, node_id="n", level=1,
                         max_file_bytes=1 << 30, batch=batch)


def two_workers(tmp_path) -> ConverterPool:
    """A pool of 2 workers with holding converters, one record per batch."""
    return pool_of(tmp_path, batch=1)


def test_batches_go_to_the_worker_with_room_while_another_is_busy(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    held, *others = spooled(tmp_path, [HOLD + str(fifo).encode()]
                            + [b"r%d" % n for n in range(1, 10)])
    pool = two_workers(tmp_path)
    try:
        pool.begin("g1")
        pool.add(*held, None)
        for frame in others:  # round robin would queue 4 of these behind the held one
            pool.add(*frame, None)
        with open(fifo, "wb"):  # let the held worker go on
            pass
        pool.hand_in()
        tally = pool.tally()
    finally:
        pool.close()
    counts = sorted(int(key.split(".")[-2]) for _, key in tally.renames)
    assert counts == [QUEUED, 10 - QUEUED]  # the held worker got only what it may queue
    assert tally.converted == 10


def suspect(path):
    """What a worker's crash guard says it is converting now (None: nothing)."""
    guard = CrashGuard(path)
    guard.close()
    return guard.suspect


def test_a_worker_guards_each_record_and_marks_its_batch_done(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    frames = spooled(tmp_path, [b"r0", HOLD + str(fifo).encode(), b"r2"])
    pool = pool_of(tmp_path, batch=3)
    store = pool.store_root
    try:
        pool.begin("g1")
        for frame in frames:
            pool.add(*frame, None)  # one batch, to worker 0
        # while it converts the second record, a crash would be counted there
        second = frames[1][:2]
        eventually(lambda: suspect(guard_path(store, 0)) == second, f"the guard at {second}")
        with open(fifo, "wb"):
            pass
        pool.hand_in()
        assert pool.tally().converted == 3
        assert suspect(guard_path(store, 0)) is None  # the batch is done: no crash there
    finally:
        pool.close()


def records_in(tally) -> dict[str, int]:
    """Records per generation in a tally's store keys (`<node>.<gen>.<part>.<n>.zst`)."""
    out: Counter = Counter()
    for _, key in tally.renames:
        name = key.rsplit("/", 1)[-1].split(".")
        out[name[1]] += int(name[-2])
    return dict(out)


def test_the_next_generation_is_handed_out_before_the_last_one_is_tallied(tmp_path):
    frames = spooled(tmp_path, [b"a%d" % n for n in range(4)] + [b"b%d" % n for n in range(5)])
    pool = two_workers(tmp_path)
    try:
        pool.begin("g1")
        for frame in frames[:4]:
            pool.add(*frame, None)
        pool.hand_in()
        pool.begin("g2")  # the workers answer for g1, then go on with these
        for frame in frames[4:]:
            pool.add(*frame, None)
        first = pool.tally()
        pool.hand_in()
        second = pool.tally()
    finally:
        pool.close()
    assert records_in(first) == {"g1": 4}
    assert records_in(second) == {"g2": 5}
    assert first.converted + second.converted == 9


class _Conn:
    """A committer's end that gives `messages`, then raises `end`."""

    def __init__(self, messages, end: BaseException):
        self.messages, self.end = list(messages), end

    def recv(self):
        if self.messages:
            return self.messages.pop(0)
        raise self.end


@pytest.mark.parametrize("end", [EOFError(), ConnectionResetError()])
def test_a_worker_inbox_ends_with_stop_when_the_committer_goes(end):
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    _receive(_Conn([("batch", "g", [])], end), inbox)
    assert [inbox.get_nowait(), inbox.get_nowait()] == [("batch", "g", []), ("stop",)]
    assert inbox.empty()


def test_a_worker_inbox_that_fails_still_tells_the_worker_to_stop():
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    with pytest.raises(ValueError):
        _receive(_Conn([], ValueError("unpickling")), inbox)
    assert inbox.get_nowait() == ("stop",)
