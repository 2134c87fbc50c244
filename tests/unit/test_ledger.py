"""The reconciliation ledger's parts, without a server: each count, its persistence, and
the day rows that prove (or disprove) that nothing was lost."""

from __future__ import annotations

import json
from collections import Counter

from appliance.convert.factory import converter_loop
from appliance.ledger.accepted import AcceptedGate, AcceptedLedger
from appliance.ledger.converted import DayCounts
from appliance.ledger.exported import ExportedLedger
from appliance.ledger.local import date_of_key, scan_store
from appliance.ledger.pending import PendingConversion
from appliance.ledger.reconcile import day_rows
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from appliance.spool.segments import sealed_at
from appliance.storage.checkpoint import Checkpoint, CheckpointLog
from appliance.storage.keys import UNKNOWN_HISTOGRAMS_TREE, holds_records
from appliance.storage.schema import SchemaRegistry
from tests import pings
from tests.stores import NS_2026, config_for, make_spool, spool_pings

DAY = "20261118"  # the day of NS_2026
NEXT_DAY_NS = NS_2026 + 86_400 * 10**9


def _records(ids: RecordIds, n: int, received_ns: int = NS_2026) -> list[SpoolRecord]:
    return [SpoolRecord(ids.next(), received_ns + i, "/submit/telemetry/x", b"{}")
            for i in range(n)]


def _spool(tmp_path):
    spool = SpoolDir(tmp_path / "spool")
    spool.create()
    return spool, SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                                  fsync=False)


def test_accepted_counts_survive_a_crash_through_the_spool(tmp_path):
    spool, appender = _spool(tmp_path)
    ids = RecordIds()
    first, late = _records(ids, 6), _records(ids, 4, NEXT_DAY_NS)
    appender.append(first)
    ledger = AcceptedLedger(tmp_path / "ledger")
    ledger.count(first)
    ledger.save()
    appender.append(late)          # durable, but the process dies before counting them
    appender.rotate()
    appender.append(late[:2])      # a copy re-appended after an fsync error
    appender.close()

    after = AcceptedLedger(tmp_path / "ledger")
    after.load()
    assert after.days == Counter({DAY: 6})
    assert after.recover(spool) == 4
    assert after.days == Counter({DAY: 6, "20261119": 4})
    assert after.recover(spool) == 0  # idempotent: the position moved past them


def test_a_clean_stop_spares_the_next_start_reading_the_spool_unless_it_changed(tmp_path):
    spool, appender = _spool(tmp_path)
    ids = RecordIds()
    appender.append(_records(ids, 3))
    appender.rotate()
    appender.append(_records(ids, 2))  # and 2 in current.seg
    # A clean stop: what the writer appended is counted; the save lists the spool.
    # Its counts are 0 here, so only a read of the spool could find the 5 records.
    AcceptedLedger(tmp_path / "ledger").save(
        AcceptedLedger(tmp_path / "ledger").to_json(spool_at_stop=spool.sizes()))

    def started() -> AcceptedLedger:
        ledger = AcceptedLedger(tmp_path / "ledger")
        ledger.load()
        return ledger

    assert started().recover(spool) == 0  # the spool is as the stop left it: not read
    converted = spool.sealed_segments()[0]
    converted.unlink()  # deleted by the converter since: still nothing to count
    assert started().recover(spool) == 0
    appender.append(_records(ids, 1))  # appended while stopped: read from the start
    assert started().recover(spool) == 3
    appender.rotate()  # a segment of a new name (sealed, or as `appliance import` writes)
    assert started().recover(spool) == 3

    after = started()  # the first save after a start drops the list: a crash rereads
    after.recover(spool)
    after.save()
    assert "spool_at_stop" not in json.loads(after.path.read_bytes())
    assert started().recover(spool) == 0  # the position covers all 3 now


def test_pending_conversion_counts_past_the_offsets_and_within_the_position(tmp_path):
    spool, appender = _spool(tmp_path)
    ids = RecordIds()
    records = _records(ids, 5)
    appender.append(records)
    appender.rotate()
    sealed = spool.sealed_segments()[0]
    appender.append(_records(ids, 3))  # in current.seg
    ledger = AcceptedLedger(tmp_path / "ledger")
    ledger.count(records)
    pending = PendingConversion(spool)
    # Nothing converted: only what was accepted is pending (not the 3 unanswered frames).
    assert pending.count({}, ledger.position()) == Counter({DAY: 5})
    frame = sealed.stat().st_size // 5
    assert pending.count({sealed.name: 2 * frame}, ledger.position()) == Counter({DAY: 3})
    appender.append(_records(ids, 2))  # read incrementally
    assert pending.count({sealed.name: sealed.stat().st_size},
                         {ledger.position().popitem()[0]: 1 << 40}) == Counter({DAY: 5})


def test_exports_are_journaled_and_counted_once_across_a_crash(tmp_path):
    store = tmp_path / "store"
    key_a = f"telemetry/saved-session/Firefox/release/23.0/20130814063812/{DAY}/n.g.0000.7.zst"
    key_b = key_a.replace(".0000.7.", ".0001.5.")
    for key in (key_a, key_b):
        (store / key).parent.mkdir(parents=True, exist_ok=True)
        (store / key).write_bytes(b"x")

    def date_of(key):
        return date_of_key(key, SchemaRegistry())

    ledger = ExportedLedger(tmp_path / "ledger", store, date_of)
    ledger.load()
    ledger.exported(key_a, 100)
    (store / key_a).unlink()
    ledger.finished(key_a)
    ledger.exported(key_b, 50)  # ...and the process dies before deleting key_b locally

    again = ExportedLedger(tmp_path / "ledger", store, date_of)
    again.load()
    partitions, still_local = again.snapshot()
    assert still_local == {key_b}
    assert list(partitions.values()) == [[2, 12, 150, DAY]]
    again.exported(key_b, 50)  # re-shipped after the restart: found in S3, not counted again
    (store / key_b).unlink()
    again.finished(key_b)
    assert list(again.snapshot()[0].values()) == [[2, 12, 150, DAY]]

    third = ExportedLedger(tmp_path / "ledger", store, date_of)
    third.load()
    assert third.snapshot() == ({key_a.rpartition("/")[0]: [2, 12, 150, DAY]}, frozenset())
    assert len(list((tmp_path / "ledger").glob("exported.*.log"))) == 1


def test_checkpoint_keeps_the_ledger_and_unknown_fields():
    data = json.dumps({"offsets": {"s": 1}, "ledger": {DAY: {"converted": 2, "invalid": {}}},
                       "future_field": [1, 2]}).encode()
    checkpoint = Checkpoint.from_json(data)
    assert checkpoint.ledger == {DAY: {"converted": 2, "invalid": {}}}
    again = json.loads(checkpoint.to_json())
    assert again["future_field"] == [1, 2] and again["ledger"] == checkpoint.ledger


def _rows(tmp_path, accepted: AcceptedLedger):
    spool = SpoolDir(tmp_path / "spool")
    checkpoint = CheckpointLog(tmp_path / "store", spool.root).load()
    pending = PendingConversion(spool).count(checkpoint.offsets, accepted.position())
    local = scan_store(tmp_path / "store", SchemaRegistry())
    return day_rows(accepted.days, DayCounts(checkpoint.ledger), pending, {}, local,
                    frozenset(), export_enabled=False)


def test_a_converted_spool_reconciles_and_a_deleted_file_does_not(tmp_path):
    expected = make_spool(tmp_path, 40, per_segment=15)
    accepted = AcceptedLedger(tmp_path / "ledger")
    assert accepted.recover(SpoolDir(tmp_path / "spool")) == 40
    [before] = _rows(tmp_path, accepted)
    assert (before["pending_conversion"], before["reconciled"]) == (40, True)

    config, _ = config_for(tmp_path)
    converter_loop(config).drain()
    [row] = _rows(tmp_path, accepted)
    invalid = sum(1 for kind in expected.values() if kind == "invalid")
    assert row == {"date": DAY, "accepted": 40, "converted": 40 - invalid,
                   "invalid": {"bad_json": invalid}, "exported": 0, "pending_conversion": 0,
                   "pending_export": 40, "problem": None, "reconciled": True}

    victim = next((tmp_path / "store" / "telemetry").rglob("*.zst"))
    lost = int(victim.name.split(".")[-2])
    victim.unlink()
    [broken] = _rows(tmp_path, accepted)
    assert not broken["reconciled"]
    assert broken["problem"] == (
        f"converted + invalid 40 != exported 0 + in the local store {40 - lost}: "
        f"{lost} record{'s' if lost != 1 else ''} missing from the store")


def test_side_lines_of_unknown_histograms_are_not_counted_as_records(tmp_path):
    docs = {f"d{i}": pings.ping(i) for i in range(6)}
    for i in (1, 3, 5):
        docs[f"d{i}"]["histograms"]["MYSTERY"] = {"values": {"1": i}}
    accepted = spool_pings(tmp_path, docs)
    config, _ = config_for(tmp_path)
    converter_loop(config).drain()

    side = list((tmp_path / "store" / UNKNOWN_HISTOGRAMS_TREE).rglob("*.zst"))
    assert [int(f.name.split(".")[-2]) for f in side] == [3]      # d1, d3 and d5
    [row] = _rows(tmp_path, accepted)
    assert (row["converted"], row["pending_export"], row["reconciled"]) == (6, 6, True)
    assert not holds_records(side[0].relative_to(tmp_path / "store").as_posix())
    assert holds_records(f"telemetry/{pings.DIMS}/20261118")


def test_the_gate_holds_conversion_until_the_accepted_counts_are_saved(tmp_path):
    spool, appender = _spool(tmp_path)
    ids = RecordIds()
    records = _records(ids, 6)
    appender.append(records)
    appender.rotate()
    ledger = AcceptedLedger(tmp_path / "ledger")
    ledger.count(records[:4])
    ledger.save()
    config, _ = config_for(tmp_path)
    loop = converter_loop(config)
    now = {"t": sealed_at(spool.sealed_segments()[0]) + 1}
    loop.gate = AcceptedGate(tmp_path / "ledger", grace=30, reload_every=0, wall=lambda: now["t"])
    loop.drain()
    assert loop.held and loop.counts.records == 4
    assert spool.sealed_segments()  # not consumed: the rest waits for its count
    ledger.count(records[4:5])
    ledger.save()
    loop.drain()
    assert loop.held and loop.counts.records == 5
    now["t"] += 30  # never counted (say its batch failed): converted after the grace period
    loop.drain()
    assert not loop.held and loop.counts.records == 6 and not spool.sealed_segments()
