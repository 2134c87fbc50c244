"""Appending batches of whole records to the shared active segment.

One `os.writev` per group of whole records on an `O_APPEND` descriptor, the
count checked; never "the rest" of a short write (it would land after other
writers' records). Records are acknowledged only after `fdatasync`; after an
fdatasync error the segment is sealed and the unacknowledged records are
written again to a fresh segment (never retry-and-ack: the kernel may have
dropped the dirty pages).
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from appliance.spool import frame
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir

try:
    IOV_MAX = os.sysconf("SC_IOV_MAX")
except (ValueError, OSError):  # pragma: no cover - every Linux has it
    IOV_MAX = 1024


@dataclass
class AppendResult:
    """Outcome of one batch: the first `acked` records are durable; the rest failed."""

    acked: int
    error: OSError | None = None
    bytes_written: int = 0
    sync_seconds: float = 0.0
    sealed: int = 0
    reappended: bool = False


class SegmentAppender:
    """Appends batches to a spool directory; one per writing thread."""

    def __init__(
        self,
        spool: SpoolDir,
        *,
        max_segment_bytes: int,
        max_segment_age: float,
        fsync: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.spool = spool
        self.max_segment_bytes = max_segment_bytes
        self.max_segment_age = max_segment_age
        self.fsync = fsync
        self._clock = clock
        self._fd: int | None = None
        self._inode: int | None = None
        self._first_data_at: float | None = None

    # -- the active segment -------------------------------------------------

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._inode = self._first_data_at = None

    def close(self) -> None:
        """Release the active segment (it stays active for other writers)."""
        self._close()

    def _lock_current(self) -> int:
        """Open the active segment and hold LOCK_SH on it; return the fd."""
        while True:
            if self._fd is None:
                fd, _created = self.spool.open_current()
                self._fd, self._inode = fd, os.fstat(fd).st_ino
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                same = os.stat(self.spool.current).st_ino == self._inode
            except FileNotFoundError:
                same = False
            if same:
                return self._fd
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._close()

    def adopt_existing(self) -> None:
        """Take on a non-empty active segment left by an earlier run, its age counted from
        now, so that the age limit seals it even if no submission ever arrives (its
        records would otherwise wait, unconverted, for the next one)."""
        try:
            if os.stat(self.spool.current).st_size == 0:
                return
        except FileNotFoundError:
            return
        fd = self._lock_current()
        fcntl.flock(fd, fcntl.LOCK_UN)
        if os.fstat(fd).st_size > 0:
            self._first_data_at = self._clock()

    def rotation_due(self) -> bool:
        """True when the active segment has reached its size or age limit."""
        if self._fd is None:
            return False
        size = os.fstat(self._fd).st_size
        if size == 0:
            return False
        if size >= self.max_segment_bytes:
            return True
        return (self._first_data_at is not None
                and self._clock() - self._first_data_at >= self.max_segment_age)

    def seconds_until_rotation(self) -> float | None:
        """How long until the age limit seals the active segment (None: nothing to seal)."""
        if self._first_data_at is None:
            return None
        return max(0.0, self.max_segment_age - (self._clock() - self._first_data_at))

    def rotate(self) -> bool:
        """Seal the active segment this appender has open; True if it sealed one."""
        inode = self._inode
        self._close()
        if inode is None:
            return False
        return self.spool.seal_current(expected_inode=inode) is not None

    def maybe_rotate(self) -> bool:
        """Seal the active segment if it is due; True if it sealed one."""
        if self.rotation_due():
            return self.rotate()
        if self._fd is not None and self._first_data_at is None:
            # A process restarted onto an old non-empty segment: age counts from now.
            if os.fstat(self._fd).st_size > 0:
                self._first_data_at = self._clock()
        return False

    # -- appending ----------------------------------------------------------

    def append(self, records: Sequence[SpoolRecord]) -> AppendResult:
        """Append `records` in order and make them durable.

        Returns how many (a prefix) are durable and, if not all, the error.
        """
        sealed = int(self.maybe_rotate())
        frames = [frame.encode(r) for r in records]
        written, written_bytes, error = self._write(frames)
        result = AppendResult(acked=0, error=error, bytes_written=written_bytes, sealed=sealed)
        # At the file size limit this process can write no more to this segment,
        # so it is sealed, but only after the whole frames before the cut are
        # synced through our descriptor (rotate() closes it).
        efbig = error is not None and error.errno == errno.EFBIG
        if written == 0:
            if efbig:
                result.sealed += int(self.rotate())
            return result
        started = time.perf_counter()
        try:
            self._sync()
        except OSError as sync_error:
            # Never retry-and-ack: seal this segment and write the batch again.
            result.sealed += int(self.rotate())
            efbig = False  # that segment is sealed now
            result.reappended = True
            again, again_bytes, error2 = self._write(frames[:written])
            result.bytes_written += again_bytes
            if error2 is not None or again < written:
                result.error = error2 or sync_error
                return result
            try:
                self._sync()
            except OSError as second:
                result.sealed += int(self.rotate())
                result.error = second
                return result
        result.sync_seconds = time.perf_counter() - started
        result.acked = written
        if efbig:
            result.sealed += int(self.rotate())
        elif self._first_data_at is None:
            self._first_data_at = self._clock()
        return result

    def _sync(self) -> None:
        """fdatasync the segment `_write` just wrote to (unless durability is not fsync)."""
        if not self.fsync:
            return
        if self._fd is None:  # never after a write; were it lost, the batch is not durable
            raise OSError(errno.EBADF, "the segment written to is closed")
        os.fdatasync(self._fd)

    def _write(self, frames: list[list[bytes]]) -> tuple[int, int, OSError | None]:
        """Write whole frames; return (frames fully written, bytes, error or None)."""
        try:
            fd = self._lock_current()
        except OSError as e:
            return 0, 0, e
        done = 0
        total = 0
        try:
            for group in _groups(frames):
                buffers = [b for f in group for b in f]
                expected = sum(map(len, buffers))
                try:
                    n = os.writev(fd, buffers)
                except OSError as e:
                    return done, total, e
                if n == expected:
                    done += len(group)
                    total += n
                    continue
                # Short write: the whole frames before the cut are on disk; the
                # cut one is a torn frame that readers will skip and count.
                total += n
                for f in group:
                    size = sum(map(len, f))
                    if n < size:
                        break
                    n -= size
                    done += 1
                return done, total, _short_write_error(fd)
            return done, total, None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _groups(frames: list[list[bytes]]) -> Iterator[list[list[bytes]]]:
    """Consecutive groups of whole frames with at most IOV_MAX buffers each."""
    group: list[list[bytes]] = []
    count = 0
    for f in frames:
        if group and count + len(f) > IOV_MAX:
            yield group
            group, count = [], 0
        group.append(f)
        count += len(f)
    if group:
        yield group


def _short_write_error(fd: int) -> OSError:
    """Name the likely cause of a short write: the file size limit, else a full disk."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and os.fstat(fd).st_size >= soft:
        return OSError(errno.EFBIG, "short write to the spool: file size limit reached")
    return OSError(errno.ENOSPC, "short write to the spool: no space left")
