"""The free-space watermark, driven by a fake clock and a fake statvfs."""

import os
from pathlib import Path

import pytest
from twisted.internet.task import Clock

from appliance.disk import DiskGuard


class FakeFs:
    def __init__(self, free: int, total: int):
        self.free, self.total = free, total

    def __call__(self, _path):
        return os.statvfs_result((4096, 4096, self.total // 4096, self.free // 4096,
                                  self.free // 4096, 0, 0, 0, 0, 255))


def guard(fs, clock, **limits):
    return DiskGuard(Path("/data"), clock=clock, interval=1.0, statvfs=fs, **limits)


def test_low_disk_switches_on_and_back_off_as_space_changes():
    clock, fs = Clock(), FakeFs(free=10 << 30, total=100 << 30)
    g = guard(fs, clock, min_free_bytes=1 << 30, min_free_percent=5.0)
    g.start()
    assert g.low is None
    fs.free = 512 << 20
    clock.advance(1.0)
    assert g.low and "disk space low" in g.low
    fs.free = 20 << 30
    clock.advance(1.0)
    assert g.low is None
    g.stop()


def test_percentage_floor_applies_on_large_disks():
    clock, fs = Clock(), FakeFs(free=40 << 30, total=1000 << 30)
    g = guard(fs, clock, min_free_bytes=1 << 30, min_free_percent=5.0)
    g.check()
    assert g.low is not None  # 4% free although 40 GiB are left


def test_zero_watermark_never_refuses():
    g = guard(FakeFs(free=0, total=1 << 30), Clock(), min_free_bytes=0, min_free_percent=0)
    g.check()
    assert g.low is None


@pytest.mark.logs_failures("a failing watcher is logged with its traceback at each check")
def test_watchers_hear_every_check_and_one_failing_does_not_stop_the_rest():
    clock, fs = Clock(), FakeFs(free=10 << 30, total=100 << 30)
    g = guard(fs, clock, min_free_bytes=1 << 30, min_free_percent=0.0)
    seen = []

    def broken(_guard):
        raise RuntimeError("a watcher's bug")

    g.watch(broken)
    g.watch(lambda gd: seen.append(gd.low))
    g.start()
    fs.free = 1 << 20
    clock.advance(1.0)
    fs.free = 5 << 30
    clock.advance(1.0)
    assert seen[0] is None and "disk space low" in seen[1] and seen[2] is None
    g.stop()


def test_a_failing_statvfs_counts_as_low_and_the_checks_go_on():
    clock, fs = Clock(), FakeFs(free=10 << 30, total=100 << 30)
    broken = []

    def statvfs(path):
        if broken:
            raise OSError(5, "Input/output error")
        return fs(path)

    g = DiskGuard(Path("/data"), clock=clock, interval=1.0, statvfs=statvfs,
                  min_free_bytes=1 << 30, min_free_percent=0.0)
    g.start()
    broken.append(True)
    clock.advance(1.0)
    assert g.low == "cannot check free space in /data: [Errno 5] Input/output error"
    broken.clear()
    clock.advance(1.0)
    assert g.low is None
    g.stop()
