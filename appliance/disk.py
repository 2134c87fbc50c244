"""The free-space watermark: refuse submissions (507) before the disk fills.

One guard per process; every writer that can fill the disk (the spool, the
log file, jobs) watches it rather than running its own statvfs loop.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()


def is_no_space(error: BaseException) -> bool:
    """True for errors that mean the disk (or quota) is full."""
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


class DiskGuard:
    """Checks free space periodically; `low` holds the reason while below the watermark.

    Below the watermark means less than `min_free_bytes` free, or less than
    `min_free_percent` of the file system free (both are floors). Watchers
    (`watch()`) are called after every check, so they can react both to the
    disk filling and to space coming back.
    """

    def __init__(self, path: Path, *, min_free_bytes: int, min_free_percent: float,
                 clock: IReactorTime, interval: float,
                 statvfs: Callable[[Path], os.statvfs_result] = os.statvfs):
        self._path = path
        self._min_bytes = min_free_bytes
        self._min_percent = min_free_percent
        self._statvfs = statvfs
        self._interval = interval
        self._loop = LoopingCall(self.check)
        self._loop.clock = clock
        self.low: str | None = None
        self.free_bytes = 0
        self.total_bytes = 0
        self._watchers: list[Callable[[DiskGuard], None]] = []

    def watch(self, watcher: Callable[[DiskGuard], None]) -> None:
        """Call `watcher(guard)` on the reactor thread after every check."""
        self._watchers.append(watcher)

    def check(self) -> None:
        """Read the file system's free space and update `low`."""
        reason: str | None
        try:
            st = self._statvfs(self._path)
        except OSError as e:  # a broken file system: treat it as full, and keep checking
            reason = f"cannot check free space in {self._path}: {e}"
        else:
            reason = self._below(st)
        if reason and not self.low:
            log.warn("{reason}; answering 507 until space returns", reason=reason)
        elif self.low and not reason:
            log.info("disk space back above the watermark; accepting submissions")
        self.low = reason
        for watcher in self._watchers:
            try:
                watcher(self)
            except Exception:  # one watcher's bug must not stop the checks
                log.failure("disk watcher {watcher!r} failed", watcher=watcher)

    def _below(self, st: os.statvfs_result) -> str | None:
        """Record the free space; the reason if it is below the watermark."""
        self.free_bytes = st.f_bavail * st.f_frsize
        self.total_bytes = st.f_blocks * st.f_frsize
        return below_watermark(st, self._path, self._min_bytes, self._min_percent)

    def start(self) -> None:
        self._loop.start(self._interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()


def below_watermark(st: os.statvfs_result, path: Path, min_free_bytes: int,
                    min_free_percent: float) -> str | None:
    """Why the file system of `path` (its statvfs `st`) is below the watermark, or None."""
    free, total = st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize
    percent = 100.0 * free / total if total else 100.0
    if free >= min_free_bytes and percent >= min_free_percent:
        return None
    return (f"disk space low: {free} bytes ({percent:.1f}%) free in {path}, "
            f"watermark {min_free_bytes} bytes / {min_free_percent:g}%")
