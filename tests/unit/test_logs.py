"""The log file survives write errors and a full disk, counts what it drops, and resumes."""

from __future__ import annotations

import errno
import json
import os

import pytest
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogPublisher,
    eventsFromJSONLogFile,
    jsonFileLogObserver,
)

from appliance.logs import LogFile


class Disk:
    """Makes os.write fail (or write short) while `full` is set."""

    def __init__(self, monkeypatch, short: bool = False):
        self.full = False
        real = os.write

        def write(fd, data):
            if not self.full:
                return real(fd, data)
            if short:
                return real(fd, data[:5])
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("appliance.logs.os.write", write)


@pytest.fixture
def logged(tmp_path):
    """A Logger publishing to a LogFile through the observer `appliance serve` uses."""
    log_file = LogFile(tmp_path / "appliance.log")
    publisher = LogPublisher()
    publisher.addObserver(FilteringLogObserver(
        jsonFileLogObserver(log_file, recordSeparator=""), [log_file.admit]))
    yield log_file, Logger(namespace="test", observer=publisher)
    log_file.close()


def events(log_file: LogFile) -> list[dict]:
    with open(log_file.path) as f:
        return list(eventsFromJSONLogFile(f))


@pytest.mark.parametrize("short", [False, True])
def test_a_full_disk_drops_and_counts_lines_and_writing_resumes(logged, monkeypatch, short):
    log_file, log = logged
    disk = Disk(monkeypatch, short=short)
    log.info("before {n}", n=1)
    disk.full = True
    for i in range(3):
        log.error("while full {i}", i=i)  # must not raise, nor disable the observer
    assert log_file.dropped == 3 and "cannot write" in log_file.failing
    disk.full = False
    log.info("after {n}", n=2)
    assert log_file.failing is None
    seen = [e["log_format"] for e in events(log_file)]
    assert seen[0] == "before {n}" and seen[-1] == "after {n}"
    assert "were dropped" in seen[-2] and events(log_file)[-2]["n"] == 3
    assert not any("while full" in s for s in seen)


def test_below_the_watermark_only_warnings_and_errors_are_written(logged):
    log_file, log = logged

    class Guard:
        low = "disk space low: 5 bytes free"

    log_file.watch(Guard)
    log.info("routine")
    log.debug("chatter")
    log.warn("attention")
    log.error("trouble")
    Guard.low = None
    log.info("space is back")
    written = events(log_file)
    assert [e["log_format"] for e in written[1:]] == ["attention", "trouble", "space is back"]
    assert "were dropped" in written[0]["log_format"] and written[0]["n"] == 2
    assert log_file.dropped == 2


def test_a_log_file_that_cannot_be_opened_is_retried(tmp_path):
    log_file = LogFile(tmp_path / "missing-dir" / "appliance.log")
    assert log_file.failing and "cannot open" in log_file.failing
    log_file.write('{"x": 1}\n')
    assert log_file.dropped == 1
    (tmp_path / "missing-dir").mkdir()
    log_file.write('{"x": 2}\n')
    assert log_file.failing is None
    lines = (tmp_path / "missing-dir" / "appliance.log").read_text().splitlines()
    assert json.loads(lines[0])["n"] == 1 and json.loads(lines[1]) == {"x": 2}
    log_file.close()
