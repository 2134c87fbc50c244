"""The spool directory: segment names, the shared active segment and the sealing protocol.

Segment names are made and read only here: `current.seg` (the active segment),
`rotating-<ns>-<pid>-<hex>.seg` while being sealed, `sealed-<ns>-<pid>-<hex>.seg`
once sealed, where `<ns>` is the sealing time in 20 digits of nanoseconds (so
names, and their stems, sort in spool order).

Any number of processes append to `current.seg`. Each writer takes
`flock(LOCK_SH)` around a write and first checks that the path still names
the inode it has open, reopening if not. Sealing renames `current.seg` to
`rotating-*.seg`, takes `LOCK_EX` on it (which waits out writes in flight;
later writers see the new inode and reopen), fsyncs it, renames it to
`sealed-*.seg` and fsyncs the directory. A sealed segment is never written
again. See RELIABILITY.md for why this protocol and not stat-and-reopen.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from pathlib import Path

from appliance.durable import fsync_dir

CURRENT = "current.seg"
ROTATING_PREFIX = "rotating-"
SEALED_PREFIX = "sealed-"
SUFFIX = ".seg"
PROBE_PREFIX = ".probe-"
# As large as a modest batch, so a disk with a few KiB free does not pass for healthy.
PROBE_BYTES = 64 * 1024


def is_segment_name(name: str) -> bool:
    """True for the name of a segment file (active, rotating or sealed)."""
    return name.endswith(SUFFIX)


def is_sealed_name(name: str) -> bool:
    """True for the name of a sealed segment (not the active one, not a rotating one)."""
    return name.startswith(SEALED_PREFIX) and name.endswith(SUFFIX)


def segment_stem(segment: Path) -> str:
    """A sealed segment's name without prefix and suffix; stems sort by sealing time."""
    return segment.name[len(SEALED_PREFIX):-len(SUFFIX)]


def sealed_at(segment: Path) -> float:
    """When a sealed segment was sealed (from its name), in seconds since the epoch."""
    try:
        return int(segment.name[len(SEALED_PREFIX):].split("-", 1)[0]) / 1e9
    except ValueError:
        return 0.0  # not a name we made: never hold it back


class SpoolDir:
    """Paths and sealing for one spool directory."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    @property
    def current(self) -> Path:
        return self.root / CURRENT

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def sealed_segments(self) -> list[Path]:
        """Sealed segments, oldest first (names sort by sealing time)."""
        return sorted(self.root.glob(f"{SEALED_PREFIX}*{SUFFIX}"))

    def all_segments(self) -> list[Path]:
        """Every segment file: sealed (oldest first), rotating, then the active one."""
        rotating = sorted(self.root.glob(f"{ROTATING_PREFIX}*{SUFFIX}"))
        current = [self.current] if self.current.exists() else []
        return self.sealed_segments() + rotating + current

    def sizes(self) -> dict[str, int]:
        """Every segment's file name and size now (one deleted meanwhile is left out)."""
        sizes = {}
        for path in self.all_segments():
            try:
                sizes[path.name] = path.stat().st_size
            except FileNotFoundError:
                continue
        return sizes

    def _unique_name(self, prefix: str) -> str:
        return f"{prefix}{time.time_ns():020d}-{os.getpid()}-{os.urandom(3).hex()}{SUFFIX}"

    def open_current(self) -> tuple[int, bool]:
        """Open (creating if needed) the active segment for appending; (fd, created)."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        while True:
            try:
                return os.open(self.current, flags), False
            except FileNotFoundError:
                pass
            try:
                fd = os.open(self.current, flags | os.O_CREAT | os.O_EXCL, 0o640)
            except FileExistsError:
                continue
            fsync_dir(self.root)
            return fd, True

    def seal_current(self, expected_inode: int | None = None) -> Path | None:
        """Seal the active segment; return the sealed path, or None if there was none.

        With `expected_inode`, only seal if `current.seg` is still that inode
        (another process may have sealed it already).
        """
        rotating = self.root / self._unique_name(ROTATING_PREFIX)
        if expected_inode is not None:
            try:
                if os.stat(self.current).st_ino != expected_inode:
                    return None
            except FileNotFoundError:
                return None
        try:
            os.rename(self.current, rotating)
        except FileNotFoundError:
            return None
        return self.finish_sealing(rotating)

    def finish_sealing(self, rotating: Path) -> Path:
        """Wait out writers of a renamed segment, sync it, and give it its sealed name."""
        fd = os.open(rotating, os.O_RDONLY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.fsync(fd)
        finally:
            os.close(fd)
        sealed = self.root / (SEALED_PREFIX + rotating.name[len(ROTATING_PREFIX):])
        os.rename(rotating, sealed)
        fsync_dir(self.root)
        return sealed

    def probe(self) -> None:
        """Write, sync and remove a small fresh file; raises OSError while the disk cannot
        take writes. Never touches a segment, so readers see nothing of it."""
        path = self.root / f"{PROBE_PREFIX}{os.getpid()}-{threading.get_ident()}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            if os.write(fd, bytes(PROBE_BYTES)) != PROBE_BYTES:
                raise OSError(errno.ENOSPC, "short write probing the spool's disk")
            os.fdatasync(fd)
        finally:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def recover(self) -> list[Path]:
        """Finish sealing segments left half-sealed by a crash."""
        return [self.finish_sealing(p)
                for p in sorted(self.root.glob(f"{ROTATING_PREFIX}*{SUFFIX}"))]
