"""The ledger monitor's coalescing on a Clock: one save and one reconciliation at a time,
with its thread pool replaced by a queue the test runs by hand."""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred

from appliance.ledger.monitor import SAVE_INTERVAL, LedgerMonitor
from appliance.spool import RecordIds, SpoolDir, SpoolRecord
from appliance.storage.schema import SchemaRegistry
from tests.stores import NS_2026
from tests.unit.thread_fakes import QueuedPool, ThreadReactor

DAY = "20261118"  # the day of NS_2026
INTERVAL = 60.0


def opened(tmp_path):
    spool = SpoolDir(tmp_path / "spool")
    spool.create()
    reactor, pool = ThreadReactor(), QueuedPool()
    monitor = LedgerMonitor(reactor, tmp_path, spool, SchemaRegistry(), export_enabled=False,
                            interval=INTERVAL, threadpool=pool)
    opening = Deferred.fromCoroutine(monitor.open())
    pool.run_all()
    assert opening.result == 0
    return reactor, pool, monitor


def records(ids: RecordIds, n: int) -> list[SpoolRecord]:
    return [SpoolRecord(ids.next(), NS_2026 + i, "/submit/telemetry/x", b"{}") for i in range(n)]


def saved_days(tmp_path) -> dict:
    return json.loads((tmp_path / "ledger" / "accepted.json").read_text())["days"]


def test_a_save_runs_only_when_the_counts_changed_and_one_at_a_time(tmp_path):
    reactor, pool, monitor = opened(tmp_path)
    ids = RecordIds()
    monitor.start()
    pool.run_all()  # the first reconciliation
    reactor.advance(SAVE_INTERVAL)
    assert pool.queue == []  # nothing counted: nothing to write
    monitor.accepted.count(records(ids, 3))
    reactor.advance(SAVE_INTERVAL)
    assert len(pool.queue) == 1
    monitor.accepted.count(records(ids, 2))  # counted while the first save is in the thread
    reactor.advance(SAVE_INTERVAL)
    assert len(pool.queue) == 1  # no second save beside it
    pool.run_all()
    assert saved_days(tmp_path) == {DAY: 3}  # what was counted when it started
    reactor.advance(SAVE_INTERVAL)
    pool.run_all()
    assert saved_days(tmp_path) == {DAY: 5}
    reactor.advance(SAVE_INTERVAL)
    assert pool.queue == []


def test_reconciliations_coalesce_while_one_is_running(tmp_path):
    reactor, pool, monitor = opened(tmp_path)
    monitor.start()  # the first pass starts now
    assert len(pool.queue) == 1
    again = monitor.refresh()
    reactor.advance(INTERVAL)  # the loop's next pass comes while the first still runs
    assert len(pool.queue) == 1
    assert again is monitor.refresh()
    pool.run_all()
    assert again.called and monitor.computed_at == INTERVAL
    monitor.refresh()
    assert len(pool.queue) == 1  # a new pass once the previous one is done


def test_stop_waits_for_the_save_in_flight_then_saves_the_last_counts(tmp_path):
    reactor, pool, monitor = opened(tmp_path)
    ids = RecordIds()
    monitor.start()
    pool.run_all()
    monitor.accepted.count(records(ids, 1))
    reactor.advance(SAVE_INTERVAL)  # a save in flight
    monitor.accepted.count(records(ids, 4))
    stopping = Deferred.fromCoroutine(monitor.stop())
    pool.run_all()  # the save in flight ...
    pool.run_all()  # ... then the last one
    assert stopping.called
    assert saved_days(tmp_path) == {DAY: 5}
    reactor.advance(INTERVAL)
    assert pool.queue == []  # the loops are stopped
