"""Whether the converter may write to the store now (DESIGN 5: every disk writer
respects the watermark).

The converter pauses below a free-space watermark, and for a while after a
store write failed for lack of space (ENOSPC, EDQUOT), and resumes by itself
once space returns. Its watermark is half of the spool's: between the two the
receiver answers 507 while the converter goes on turning spool segments into
store files, which frees the segments' space.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from appliance.disk import below_watermark


class StoreSpace:
    """`low()`: why the converter must not write now, or None.

    Free space is read at most every `interval` seconds; after `failed(error)`
    the answer is "low" for `retry` seconds whatever the file system says.
    """

    def __init__(self, path: Path, *, min_free_bytes: int, min_free_percent: float,
                 interval: float = 1.0, retry: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 statvfs: Callable[[Path], os.statvfs_result] = os.statvfs):
        self.path = path
        self.min_free_bytes = min_free_bytes
        self.min_free_percent = min_free_percent
        self.interval = interval
        self.retry = retry
        self._clock = clock
        self._statvfs = statvfs
        self._next_check = float("-inf")
        self._reason: str | None = None
        self._failure: str | None = None
        self._failed_until = float("-inf")

    def low(self) -> str | None:
        now = self._clock()
        if now < self._failed_until:
            return self._failure
        if now >= self._next_check:
            self._next_check = now + self.interval
            try:
                st = self._statvfs(self.path)
            except OSError as e:  # a broken file system: as full, and keep checking
                self._reason = f"cannot check free space in {self.path}: {e}"
            else:
                self._reason = below_watermark(st, self.path, self.min_free_bytes,
                                               self.min_free_percent)
        return self._reason

    def failed(self, error: OSError) -> None:
        """A store write failed for lack of space: low for the next `retry` seconds."""
        self._failure = f"store write failed: {error}"
        self._failed_until = self._clock() + self.retry
