"""Structured logging: JSON events to a file in the data dir, readable lines on the console."""

from __future__ import annotations

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


def start_logging(log_dir: Path, level: str, console: TextIO) -> Path:
    """Send twisted.logger events to `log_dir/appliance.log` (JSON lines) and `console`.

    Returns the log file's path.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / "appliance.log"
    log_file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[level])
    observers = [
        FilteringLogObserver(jsonFileLogObserver(log_file, recordSeparator=""), [predicate]),
        FilteringLogObserver(textFileLogObserver(console), [predicate]),
    ]
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
    return path
