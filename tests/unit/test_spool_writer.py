"""The group-commit writer thread, with a stub appender and a pumped fake reactor."""

from __future__ import annotations

import errno
import queue
import threading

import pytest

from appliance.spool import AppendResult, SpoolDir, SpoolSaturated, SpoolWriteFailed, SpoolWriter
from appliance.spool.appender import SegmentAppender
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.stats import Stats


class PumpedReactor:
    """callFromThread queues calls; the test runs them on its own thread."""

    def __init__(self):
        self.calls: queue.Queue = queue.Queue()

    def callFromThread(self, f, *args):
        self.calls.put((f, args))

    def pump_until(self, predicate, timeout=10.0):
        while not predicate():
            f, args = self.calls.get(timeout=timeout)
            f(*args)


class StubAppender:
    """Records batches; can hold the first batch and fail on demand."""

    def __init__(self):
        self.batches: list[list] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()
        self.results: list[AppendResult] = []
        self.rotate_after: float | None = None
        self.rotations = 0

    def append(self, records):
        self.entered.set()
        self.release.wait()
        self.batches.append(list(records))
        if self.results:
            return self.results.pop(0)
        return AppendResult(acked=len(records))

    def adopt_existing(self):
        pass

    def seconds_until_rotation(self):
        return self.rotate_after

    def maybe_rotate(self):
        self.rotate_after = None
        self.rotations += 1
        return True

    def close(self):
        pass


def make(appender, **kw):
    reactor = PumpedReactor()
    stats = Stats(lambda: 0.0)
    writer = SpoolWriter(appender, reactor, stats, max_batch_bytes=kw.get("batch", 1 << 20),
                         max_pending_bytes=kw.get("pending", 1 << 20))
    writer.start()
    return writer, reactor, stats


PENDING = object()


def outcomes(deferreds):
    results = [PENDING] * len(deferreds)
    for i, d in enumerate(deferreds):
        d.addCallbacks(lambda r, i=i: results.__setitem__(i, r),
                       lambda f, i=i: results.__setitem__(i, f))
    return results


def test_records_queued_during_a_sync_go_out_as_one_batch():
    appender = StubAppender()
    appender.release.clear()
    writer, reactor, stats = make(appender)
    first = writer.submit("/submit/telemetry/a", b"first", 1)
    assert appender.entered.wait(10)  # the writer is inside the first append
    rest = [writer.submit(f"/submit/telemetry/{i}", b"x%d" % i, 2) for i in range(50)]
    appender.release.set()
    results = outcomes([first, *rest])
    reactor.pump_until(lambda: PENDING not in results)
    assert [len(b) for b in appender.batches] == [1, 50]
    assert [r.body for r in results[1:]] == [b"x%d" % i for i in range(50)]
    assert len({r.record_id for r in results}) == 51
    assert stats.spool_records == 51 and stats.spool_batches == 2
    assert writer.pending_bytes == 0
    writer.stop()


def test_batches_are_bounded_by_bytes():
    appender = StubAppender()
    appender.release.clear()
    writer, reactor, _ = make(appender, batch=10_000)
    first = writer.submit("/p", b"0", 1)
    assert appender.entered.wait(10)
    rest = [writer.submit("/p", b"b" * 3000, 1) for _ in range(6)]
    appender.release.set()
    results = outcomes([first, *rest])
    reactor.pump_until(lambda: PENDING not in results)
    assert [len(b) for b in appender.batches] == [1, 3, 3]
    writer.stop()


def test_too_much_pending_is_refused_at_once():
    appender = StubAppender()
    appender.release.clear()
    writer, _, _ = make(appender, pending=8192)
    writer.submit("/p", b"a" * 4000, 1)
    with pytest.raises(SpoolSaturated):
        writer.submit("/p", b"a" * 5000, 1)
    appender.release.set()
    writer.stop()


def test_failed_part_of_a_batch_is_not_acknowledged_and_marks_the_spool_failing():
    appender = StubAppender()
    appender.release.clear()
    appender.results = [AppendResult(acked=0),
                        AppendResult(acked=1, error=OSError(errno.ENOSPC, "full"))]
    writer, reactor, stats = make(appender)
    first = writer.submit("/p", b"0", 1)
    assert appender.entered.wait(10)
    batch = [writer.submit("/p", b"%d" % i, 1) for i in range(3)]
    appender.release.set()
    results = outcomes([first, *batch])
    reactor.pump_until(lambda: PENDING not in results)
    assert results[1].body == b"0"
    for failure in results[2:]:
        assert failure.check(SpoolWriteFailed) and failure.value.no_space
    assert writer.failing and stats.spool_errors["ENOSPC"] == 1
    again = outcomes([writer.submit("/p", b"later", 1)])
    reactor.pump_until(lambda: again[0] is not PENDING)
    assert again[0].body == b"later" and writer.failing is None
    writer.stop()


def test_stop_writes_what_is_queued_then_exits():
    appender = StubAppender()
    appender.release.clear()
    writer, reactor, _ = make(appender)
    ds = [writer.submit("/p", b"%d" % i, 1) for i in range(5)]
    stopped = outcomes([writer.stop()])
    with pytest.raises(SpoolSaturated):
        writer.submit("/p", b"too late", 1)
    appender.release.set()
    results = outcomes(ds)
    reactor.pump_until(lambda: stopped[0] is not PENDING)
    assert all(getattr(r, "body", None) for r in results)


def test_idle_writer_seals_the_segment_when_its_age_is_reached():
    appender = StubAppender()
    appender.rotate_after = 0.01
    writer, reactor, stats = make(appender)
    reactor.pump_until(lambda: stats.spool_segments_sealed == 1)
    assert appender.rotations == 1
    writer.stop()


class ProbedSpool:
    """A spool whose probe write fails while `full` is set."""

    def __init__(self):
        self.full = True
        self.probes = 0

    def probe(self):
        self.probes += 1
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")


def test_failing_clears_by_a_probe_without_any_submission():
    appender = StubAppender()
    appender.spool = ProbedSpool()
    appender.results = [AppendResult(acked=0, error=OSError(errno.ENOSPC, "full"))]
    writer, reactor, _ = make(appender)
    failed = outcomes([writer.submit("/p", b"0", 1)])
    reactor.pump_until(lambda: failed[0] is not PENDING)
    assert writer.failing
    writer.probe_if_failing()  # the disk is still full: the probe fails, failing stays
    ran = []
    while "_probed" not in ran:  # run the reactor's calls until the probe's answer has run
        f, args = reactor.calls.get(timeout=10)
        f(*args)
        ran.append(f.__name__)
    assert appender.spool.probes == 1 and writer.failing
    appender.spool.full = False
    writer.probe_if_failing()
    reactor.pump_until(lambda: writer.failing is None)
    assert appender.spool.probes == 2 and len(appender.batches) == 1  # no submission needed
    writer.probe_if_failing()  # nothing is failing: no probe
    writer.stop()
    assert appender.spool.probes == 2


def test_the_probe_writes_a_synced_file_and_leaves_nothing(tmp_path, monkeypatch):
    from appliance.spool import SpoolDir

    spool = SpoolDir(tmp_path)
    spool.create()
    synced = []
    real = __import__("os").fdatasync
    monkeypatch.setattr("os.fdatasync", lambda fd: (synced.append(fd), real(fd)))
    spool.probe()
    assert synced and list(tmp_path.iterdir()) == []

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("os.fdatasync", full)
    with pytest.raises(OSError):
        spool.probe()
    assert list(tmp_path.iterdir()) == []


def test_an_old_active_segment_is_adopted_and_sealed_by_age_with_no_append(tmp_path):
    spool = SpoolDir(tmp_path)
    old = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=3600, fsync=False)
    old.append([SpoolRecord(RecordIds().next(), 1, "/submit/telemetry/a", b"{}", {})])
    old.close()  # the earlier run is gone; its segment is still the active one
    now = [100.0]
    fresh = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=5, fsync=False,
                            clock=lambda: now[0])
    assert fresh.seconds_until_rotation() is None  # knows nothing of it yet
    fresh.adopt_existing()
    assert fresh.seconds_until_rotation() == 5
    assert not fresh.maybe_rotate() and not spool.sealed_segments()
    now[0] += 5
    assert fresh.maybe_rotate()
    assert len(spool.sealed_segments()) == 1 and not spool.current.exists()


def test_an_empty_or_missing_active_segment_is_not_adopted(tmp_path):
    spool = SpoolDir(tmp_path)
    fresh = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=5, fsync=False)
    fresh.adopt_existing()
    assert fresh.seconds_until_rotation() is None and not spool.current.exists()
    spool.current.touch()
    fresh.adopt_existing()
    assert fresh.seconds_until_rotation() is None
