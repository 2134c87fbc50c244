"""Structured logging: JSON events to a file in the data dir, readable lines on the console."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    jsonFileLogObserver,
    textFileLogObserver,
)

LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn,
          "error": LogLevel.error}


class LogFile:
    """An append-only log file that can be reopened by name (after logrotate moved it).

    Events may be written from any thread; `reopen()` swaps the file under the
    same lock, so no event is split between the old and the new file.
    """

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._file = self._open()

    def _open(self) -> TextIO:
        return open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by reopen/close

    def write(self, text: str) -> None:
        with self._lock:
            self._file.write(text)

    def flush(self) -> None:
        with self._lock:
            self._file.flush()

    def reopen(self) -> None:
        """Close the file and open `path` again (creating it if it was moved away)."""
        with self._lock:
            self._file.close()
            self._file = self._open()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def start_logging(log_dir: Path, level: str, console: TextIO) -> LogFile:
    """Send twisted.logger events to `log_dir/appliance.log` (JSON lines) and `console`.

    Returns the log file, whose `reopen()` is what SIGHUP calls.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = LogFile(log_dir / "appliance.log")
    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[level])
    observers = [
        FilteringLogObserver(jsonFileLogObserver(log_file, recordSeparator=""), [predicate]),
        FilteringLogObserver(textFileLogObserver(console), [predicate]),
    ]
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
    return log_file
