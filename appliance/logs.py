"""Structured logging: JSON events to a file in the data dir, readable lines on the console.

The log file must never be what fills the disk or what stops the server: a
line that cannot be written (ENOSPC, EIO) is dropped and counted, and writing
resumes by itself with a line saying how many were lost; below the disk
guard's watermark only warnings and errors are written. The console (the
journal) always gets every line.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol, TextIO

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    PredicateResult,
    eventAsJSON,
    globalLogBeginner,
    jsonFileLogObserver,
    textFileLogObserver,
)

LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn,
          "error": LogLevel.error}


class Watermark(Protocol):
    """What a LogFile follows: a DiskGuard's `low` (why the disk is low, or None)."""

    low: str | None


class LogFile:
    """An append-only log file that survives write errors and can be reopened by name
    (after logrotate moved it).

    Each line is one `os.write` on an O_APPEND descriptor (no buffer that a failed
    write could leave half full). Events may be written from any thread; `reopen()`
    swaps the file under the same lock, so no event is split between two files.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._guard: Watermark | None = None
        self.dropped = 0  # lines not written: write errors, or info below the watermark
        self.failing: str | None = None  # the last write error, until a write succeeds
        self._dropped_since_written = 0
        self._torn = False  # a short write left a partial line: end it before the next
        self._open()

    def _open(self) -> None:
        """Open `path` for appending; on failure the file stays closed (writes retry)."""
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o644)
        except OSError as e:
            self._fd = None
            self.failing = f"cannot open {self.path}: {e}"

    def watch(self, guard: Watermark) -> None:
        """Follow a DiskGuard: below its watermark, lines under warn are dropped (`admit`)."""
        self._guard = guard

    def admit(self, event: dict[str, Any]) -> PredicateResult:
        """A log predicate: drop (and count) info and debug lines while the disk is low."""
        guard = self._guard
        if guard is not None and guard.low and event.get("log_level", LogLevel.info) < \
                LogLevel.warn:
            with self._lock:
                self.dropped += 1
                self._dropped_since_written += 1
            return PredicateResult.no
        return PredicateResult.maybe

    def write(self, text: str) -> None:
        """Append one line; never raises (a line that cannot be written is counted)."""
        with self._lock:
            if self._fd is None:
                self._open()
            if self._fd is None:
                self._drop_one()
                return
            data = text.encode("utf-8", "backslashreplace")
            if self._dropped_since_written:
                data = self._dropped_note() + data
            if self._torn:
                data = b"\n" + data
            try:
                written = os.write(self._fd, data)
            except OSError as e:
                self.failing = f"cannot write {self.path}: {e}"
                self._drop_one()
                return
            if written < len(data):  # a full disk: the rest would land after other lines
                self._torn = True
                self.failing = f"cannot write {self.path}: short write (disk full?)"
                self._drop_one()
                return
            self._torn = False
            self._dropped_since_written = 0
            self.failing = None

    def _drop_one(self) -> None:
        self.dropped += 1
        self._dropped_since_written += 1

    def _dropped_note(self) -> bytes:
        event = {"log_namespace": __name__, "log_level": LogLevel.warn, "log_time": time.time(),
                 "log_format": "{n} log line(s) were dropped (disk full or below the "
                               "watermark)", "n": self._dropped_since_written}
        return (eventAsJSON(event) + "\n").encode()

    def flush(self) -> None:
        """Nothing is buffered; kept for callers that flush before exiting."""

    def reopen(self) -> None:
        """Close the file and open `path` again (creating it if it was moved away)."""
        with self._lock:
            self._close()
            self._open()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        with self._lock:
            self._close()


def start_logging(log_dir: Path, level: str, console: TextIO) -> LogFile:
    """Send twisted.logger events to `log_dir/appliance.log` (JSON lines) and `console`.

    Returns the log file, whose `reopen()` is what SIGHUP calls and whose
    `watch(guard)` makes it follow the disk watermark.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = LogFile(log_dir / "appliance.log")
    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[level])
    # Twisted's stubs want an IO and ILogFilterPredicate providers; it only calls the file's
    # write() and flush() and calls each predicate, which a LogFile and its method do.
    observers = [
        FilteringLogObserver(jsonFileLogObserver(log_file, recordSeparator=""),  # type: ignore[arg-type]
                             [predicate, log_file.admit]),  # type: ignore[list-item]
        FilteringLogObserver(textFileLogObserver(console), [predicate]),
    ]
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
    return log_file
