"""The converter loop's guards: the crash-position file, and pausing on a full disk."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import pytest

from appliance.convert.crashguard import CrashGuard
from appliance.convert.factory import converter_loop
from appliance.convert.storespace import StoreSpace
from appliance.spool import SpoolDir
from appliance.storage import checkpoint
from appliance.storage.partfiles import PartitionFiles
from tests.stores import check_exactly_once, config_for, make_spool, read_zst
from tests.unit.test_disk import FakeFs

GiB = 1 << 30


def test_a_position_left_in_progress_counts_as_a_crash_until_the_limit(tmp_path):
    path = tmp_path / "guard"
    guard = CrashGuard(path, max_crashes=3)
    assert guard.suspect is None
    assert guard.begin("sealed-a.seg", 10)
    guard.end()
    assert CrashGuard(path).suspect is None  # done: no crash
    guard.begin("sealed-a.seg", 20)          # ... and the process dies here
    for crashes in (1, 2):
        guard = CrashGuard(path, max_crashes=3)
        assert (guard.suspect, guard.crashes) == (("sealed-a.seg", 20), crashes)
        assert guard.begin("sealed-a.seg", 10)  # the records before it convert as usual
        guard.end()
        assert guard.begin("sealed-a.seg", 20)  # and it dies again
    guard = CrashGuard(path, max_crashes=3)
    assert guard.crashes == 3
    assert not guard.begin("sealed-a.seg", 20)  # quarantine it
    assert guard.begin("sealed-a.seg", 30)
    guard.end()


def test_a_crash_elsewhere_starts_the_count_again(tmp_path):
    path = tmp_path / "guard"
    CrashGuard(path).begin("sealed-a.seg", 20)
    guard = CrashGuard(path)
    guard.begin("sealed-a.seg", 20)
    guard.end()
    guard.begin("sealed-a.seg", 40)  # dies at another record
    guard = CrashGuard(path)
    assert (guard.suspect, guard.crashes) == (("sealed-a.seg", 40), 1)


def test_the_loop_quarantines_the_record_that_crashed_it_and_commits_at_once(tmp_path):
    expected = make_spool(tmp_path, 10, per_segment=10)
    config, _ = config_for(tmp_path)
    (segment,) = SpoolDir(tmp_path / "spool").sealed_segments()
    loop = converter_loop(config)
    loop.recover()
    offsets = []
    loop.guard.begin = lambda name, offset: offsets.append(offset) or True
    loop.run_once()
    (tmp_path / "store" / ".converting").unlink()
    victim = offsets[4]
    for _ in range(3):  # three processes died converting the fifth record
        CrashGuard(tmp_path / "store" / ".converting").begin(segment.name, victim)
    loop = converter_loop(config)
    loop.drain()
    assert loop.counts.quarantined == 1 and loop.counts.commits == 2  # at once, then the rest
    assert loop.counts.last_quarantined == f"{segment.name} offset {victim}"
    assert loop.converter.invalid_by_reason["converter_crash"] == 1
    reasons = invalid_reasons(tmp_path / "store")
    assert reasons.pop("doc-4") == "converter_crash"
    assert reasons == {d: "bad_json" for d, kind in expected.items() if kind == "invalid"}
    valid = {line.split(b"\t")[0].decode() for path in (tmp_path / "store").rglob("*.zst")
             if "invalid" not in path.parts for line in read_zst(path.read_bytes())}
    assert valid == {d for d, kind in expected.items() if kind == "ok"} - {"doc-4"}


def invalid_reasons(store: Path) -> dict[str, str]:
    """docId -> reason of every invalid/ line."""
    out = {}
    for path in (store / "invalid").rglob("*.zst"):
        for line in read_zst(path.read_bytes()):
            doc, _, text = line.partition(b"\t")
            out[doc.decode()] = json.loads(text)["reason"]
    return out


def space(fs, clock=lambda: 0.0, retry=5.0) -> StoreSpace:
    return StoreSpace(Path("/data"), min_free_bytes=GiB, min_free_percent=0.0, interval=0.0,
                      retry=retry, clock=clock, statvfs=fs)


def test_below_the_watermark_the_loop_converts_nothing_until_space_returns(tmp_path):
    expected = make_spool(tmp_path, 20, per_segment=10)
    config, _ = config_for(tmp_path)
    fs = FakeFs(free=GiB // 2, total=100 * GiB)
    loop = converter_loop(config)
    loop.space = space(fs)
    reports = []
    loop.on_report = lambda counts: reports.append(counts.paused)
    loop.recover()
    assert not loop.run_once()
    assert loop.counts.records == 0 and "disk space low" in loop.counts.paused
    assert reports == [loop.counts.paused]
    fs.free = 10 * GiB
    assert loop.run_once()
    loop.commit()
    assert loop.counts.paused is None
    check_exactly_once(tmp_path, expected)


class Full:
    """A write that fails with ENOSPC while `full` is set (after `ok` writes that pass)."""

    def __init__(self, real, ok: int = 0):
        self.real = real
        self.full = True
        self.ok = ok
        self.failures = 0

    def __call__(self, *args, **kwargs):
        self.ok -= 1
        if self.full and self.ok < 0:
            self.failures += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(("where", "processes"), [
    ("partition file", "1"), ("checkpoint", "1"),
    ("checkpoint", "2"),  # workers: generations handed in, their commits failing
    ("second checkpoint", "2"),  # ... the first committed while the next one was begun
])
def test_enospc_pauses_drops_the_generation_and_resumes_exactly_once(tmp_path, monkeypatch,
                                                                     where, processes):
    expected = make_spool(tmp_path, 40, per_segment=10)
    config, _ = config_for(tmp_path, APPLIANCE_STORE_MAX_FILE_BYTES="2048",
                           APPLIANCE_CONVERTER_PROCESSES=processes)
    if where == "partition file":
        full = Full(PartitionFiles._flush)
        monkeypatch.setattr(PartitionFiles, "_flush", lambda self, f: full(self, f))
    else:  # a commit writes the checkpoint twice (checkpoint.py)
        full = Full(checkpoint.write_atomic, ok=2 if where == "second checkpoint" else 0)
        monkeypatch.setattr(checkpoint, "write_atomic", full)
    now = [0.0]
    loop = converter_loop(config)
    loop.space = space(FakeFs(free=10 * GiB, total=100 * GiB), clock=lambda: now[0])
    paused, done = threading.Event(), threading.Event()
    seen = []

    def report(counts):
        seen.append(counts.paused)
        if counts.paused and "store write failed" in counts.paused:
            paused.set()
        if paused.is_set() and counts.idle and not counts.paused:
            done.set()  # resumed and converted everything: stop commits it

    loop.on_report = report
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop, 0.01))
    thread.start()
    try:
        assert paused.wait(30)
        assert thread.is_alive()
        if where != "second checkpoint":
            assert not list((tmp_path / "store").rglob("*.zst"))  # nothing half-committed
            assert len(SpoolDir(tmp_path / "spool").sealed_segments()) == 4
        full.full = False  # space returns; the pause lasts `retry` seconds
        now[0] += 5.0
        assert done.wait(30)
    finally:
        stop.set()
        thread.join(30)
    assert full.failures >= 1 and "No space left" in next(p for p in seen if p)
    check_exactly_once(tmp_path, expected)
    # the dropped generation's records are counted once, when converted again
    assert loop.counts.records == loop.counts.converted + loop.counts.invalid == 40
    assert sum(loop.converter.invalid_by_reason.values()) == loop.counts.invalid
