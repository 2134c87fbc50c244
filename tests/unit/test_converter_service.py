"""The converter child's supervisor with a fake process reactor: quarantines and pauses."""

from __future__ import annotations

import json

from twisted.logger import LogLevel, capturedLogs

from appliance.convert.service import ConverterService
from appliance.stats import Stats
from tests.unit.process_fakes import ProcessReactor, end


def started():
    reactor = ProcessReactor()
    stats = Stats(reactor.seconds)
    service = ConverterService(reactor, ["appliance", "_convert-worker"], stats, env={})
    service.start()
    return reactor, stats, service


def say(reactor, **counts) -> None:
    protocol = reactor.spawned[-1][0]
    protocol.outReceived(json.dumps(counts).encode() + b"\n")


def test_quarantines_are_logged_as_errors_and_counted_across_restarts():
    reactor, stats, service = started()
    with capturedLogs() as events:
        say(reactor, converted=1, quarantined=1, last_quarantined="sealed-a.seg offset 40")
        say(reactor, converted=2, quarantined=1, last_quarantined="sealed-a.seg offset 40")
    errors = [e for e in events if e["log_level"] == LogLevel.error]
    assert len(errors) == 1 and errors[0]["where"] == "sealed-a.seg offset 40"
    end(reactor.spawned[-1][0], code=70, sig=None)
    reactor.advance(1.0)  # restarted
    say(reactor, converted=0, quarantined=0)
    assert stats.converter["quarantined"] == service.quarantined == 1
    say(reactor, converted=0, quarantined=1, last_quarantined="sealed-b.seg offset 0")
    assert stats.converter["quarantined"] == 2


def test_a_pause_is_shown_while_the_child_runs_and_logged_once():
    reactor, stats, service = started()
    assert service.paused is None
    with capturedLogs() as events:
        say(reactor, paused="disk space low: 1 bytes")
        say(reactor, paused="disk space low: 1 bytes")
        assert service.paused == "disk space low: 1 bytes"
        say(reactor, paused=None)
    assert service.paused is None
    texts = [e["log_format"] for e in events]
    assert sum("converter paused" in t for t in texts) == 1
    assert sum("converter resumed" in t for t in texts) == 1
