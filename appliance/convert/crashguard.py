"""Finding the record that kills the converter process, so it is quarantined.

Converting a record cannot raise (records.py), but it can still kill the
process outright: a segfault or an abort in a C extension, the kernel's OOM
killer. The restarted converter would reach the same record and die again,
forever. So before each record the converter writes its spool position into a
small file (one pwrite: it survives the process, and costs no fsync), and
marks it done afterwards. A position left "in progress" by a dead process is
a crash there; after `max_crashes` crashes in a row at one position the
record is quarantined (to invalid/, reason `converter_crash`) instead of
converted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

GUARD_FILE = ".converting"
MAX_CRASHES = 3
_WIDTH = 512  # one fixed-size line: pwrite over it, never truncate
_BUSY, _DONE = b"B", b"D"
# Tests only: a record whose body holds this variable's value kills the converter.
CRASH_MARKER_ENV = "CONVERTER_CRASH_MARKER_FOR_TESTS"


class CrashGuard:
    """The position being converted, kept in `path` (see the module docstring)."""

    def __init__(self, path: Path, max_crashes: int = MAX_CRASHES):
        self.max_crashes = max_crashes
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self.suspect: tuple[str, int] | None = None  # where the last process died
        self.crashes = 0                             # ... and how many times in a row
        fields = os.pread(self._fd, _WIDTH, 0).split()
        if len(fields) == 4 and fields[0] == _BUSY:
            self.suspect = (fields[1].decode(), int(fields[2]))
            self.crashes = int(fields[3]) + 1

    def begin(self, segment: str, offset: int) -> bool:
        """Mark the record at `segment`/`offset` as being converted; False (nothing
        written) if it has killed the converter `max_crashes` times: quarantine it."""
        if not self.may_convert(segment, offset):
            return False
        crashes = self.crashes if (segment, offset) == self.suspect else 0
        line = b"%s %s %d %d" % (_BUSY, segment.encode(), offset, crashes)
        os.pwrite(self._fd, line.ljust(_WIDTH - 1) + b"\n", 0)
        return True

    def may_convert(self, segment: str, offset: int) -> bool:
        """False if the record at `segment`/`offset` has killed the converter (or one
        of its worker processes) `max_crashes` times in a row: quarantine it."""
        return (segment, offset) != self.suspect or self.crashes < self.max_crashes

    def end(self) -> None:
        """The record begun last is done (converted and written)."""
        os.pwrite(self._fd, _DONE, 0)

    def close(self) -> None:
        os.close(self._fd)


def arm_crash_marker(converter: Any) -> None:
    """With CRASH_MARKER_ENV set (tests of the quarantine), make `converter` end this
    process at once, as a crash in a C extension would, on a record whose body holds the
    variable's value."""
    marker = os.environ.get(CRASH_MARKER_ENV)
    if marker:
        converter.convert = _crash_on(converter.convert, marker.encode())


def _crash_on(convert: Callable, marker: bytes) -> Callable:
    def converting(record):
        if marker in record.body:
            os._exit(70)
        return convert(record)

    return converting
