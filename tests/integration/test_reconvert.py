"""`appliance reconvert`: invalid/ records whose spec has arrived move into the store exactly
once, and the ledger still balances."""

from __future__ import annotations

import argparse
import io
import json
import os

import pytest

from appliance.cli import reconvert_cmd
from appliance.cli.common import CommandError
from appliance.convert.factory import converter_loop
from appliance.ledger.converted import DayCounts
from appliance.ledger.local import scan_store
from appliance.ledger.reconcile import day_rows
from appliance.lifecycle import hold_data_dir
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from appliance.storage.checkpoint import CheckpointLog
from appliance.storage.keys import UNKNOWN_HISTOGRAMS_TREE
from appliance.storage.schema import SchemaRegistry
from tests import pings
from tests.integration.test_poison_records import read_zst, store_outcomes
from tests.stores import NS_2026, config_for, spool_pings

LATE_REVISION = "fedcba987654"


def late_ping(i: int) -> bytes:
    """A ping of a revision whose spec is not installed yet."""
    ping = pings.ping(i)
    ping["info"]["revision"] = f"http://hg.mozilla.org/releases/mozilla-release/rev/{LATE_REVISION}"
    return json.dumps(ping).encode()


def converted_with_late_pings(data_dir) -> tuple[dict[str, str], object]:
    """A data dir whose spool (good, late-revision and broken pings) has been converted."""
    spool = SpoolDir(data_dir / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    ids, expected, batch = RecordIds(), {}, []
    for i in range(30):
        doc = f"doc-{i}"
        body, expected[doc] = [(pings.body(i), "ok"), (late_ping(i), "unknown_revision"),
                               (b"{broken", "bad_json")][i % 3]
        path = f"/submit/telemetry/{doc}/{pings.DIMS}" if i % 2 else f"/submit/telemetry/{doc}"
        batch.append(SpoolRecord(ids.next(), NS_2026 + i, path, body))
    appender.append(batch)
    appender.rotate()
    config, _ = config_for(data_dir)
    converter_loop(config).drain()
    return expected, config


def reconvert(config) -> str:
    out = io.StringIO()
    assert reconvert_cmd.run(argparse.Namespace(reason=None, specs=None), config, out) == 0
    return out.getvalue()


def ledger_balances(data_dir, accepted: int) -> dict:
    """The checkpoint's day counts, checked against the store's files."""
    (day,) = CheckpointLog(data_dir / "store", data_dir / "spool").load().ledger.values()
    outcomes = store_outcomes(data_dir / "store")
    stored = [o for where in outcomes.values() for o in where]
    assert day["converted"] == stored.count("ok")
    assert sum(day["invalid"].values()) == len(stored) - stored.count("ok")
    assert day["converted"] + sum(day["invalid"].values()) == accepted
    return day


def install_late_spec(data_dir) -> None:
    (data_dir / "specs" / f"{LATE_REVISION}.Histograms.json").write_text(json.dumps(pings.SPEC))


def test_records_of_a_revision_whose_spec_arrived_move_to_the_store_once(tmp_path):
    expected, config = converted_with_late_pings(tmp_path)
    before = ledger_balances(tmp_path, 30)
    assert before["invalid"] == {"unknown_revision": 10, "bad_json": 10}
    assert "reconverted 0" in reconvert(config)  # the spec is not there yet
    install_late_spec(tmp_path)
    text = reconvert(config)
    assert "reconverted 10, unknown_revision: 10" in text
    outcomes = store_outcomes(tmp_path / "store")
    assert outcomes == {doc: ["bad_json" if kind == "bad_json" else "ok"]
                        for doc, kind in expected.items()}
    after = ledger_balances(tmp_path, 30)
    assert after["invalid"] == {"bad_json": 10} and after["converted"] == 20
    assert "reconverted 0" in reconvert(config)  # nothing twice
    assert store_outcomes(tmp_path / "store") == outcomes
    assert not list((tmp_path / "store" / ".tmp").glob("*"))


def test_a_crash_after_the_commit_point_is_finished_by_recovery(tmp_path, monkeypatch):
    expected, config = converted_with_late_pings(tmp_path)
    install_late_spec(tmp_path)

    apply = CheckpointLog._apply

    def crash(self, checkpoint):
        if checkpoint.store_delete:
            raise KeyboardInterrupt  # dies between the checkpoint and its renames
        apply(self, checkpoint)

    monkeypatch.setattr(CheckpointLog, "_apply", crash)
    with pytest.raises(KeyboardInterrupt):
        reconvert(config)
    monkeypatch.undo()
    assert CheckpointLog(tmp_path / "store", tmp_path / "spool").load().store_delete
    assert "reconverted 0" in reconvert(config)  # recovery finished the committed run
    assert all(where == ["bad_json" if expected[doc] == "bad_json" else "ok"]
               for doc, where in store_outcomes(tmp_path / "store").items())
    ledger_balances(tmp_path, 30)


def test_it_refuses_to_run_beside_the_server(tmp_path):
    _, config = converted_with_late_pings(tmp_path)
    fd = hold_data_dir(tmp_path)  # as `appliance serve` does
    try:
        with pytest.raises(CommandError, match="stop it first"):
            reconvert(config)
    finally:
        os.close(fd)


def test_invalid_files_already_exported_are_left_out(tmp_path):
    _, config = converted_with_late_pings(tmp_path)
    install_late_spec(tmp_path)
    store = tmp_path / "store"
    keys = sorted(p.relative_to(store).as_posix() for p in (store / "invalid").rglob("*.zst"))
    exported = next(k for k in keys if "UNKNOWN" not in k)  # holds late pings
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (ledger / "exported.json").write_text(json.dumps({"partitions": {},
                                                      "journal": "exported.1.log"}))
    (ledger / "exported.1.log").write_text(f"{exported}\t10\t100\t20261118\n")
    text = reconvert(config)
    assert "1 invalid file(s) already exported: left out" in text
    assert (store / exported).exists()
    ledger_balances(tmp_path, 30)


def test_unknown_histograms_of_reconverted_records_go_to_the_side_tree_once(tmp_path):
    docs = {}
    for i in range(12):
        docs[f"d{i}"] = ping = json.loads(late_ping(i)) if i % 2 else pings.ping(i)
        if i % 4 < 2:
            ping["histograms"]["MYSTERY"] = {"values": {"1": i}}
    accepted = spool_pings(tmp_path, docs)
    config, _ = config_for(tmp_path)
    converter_loop(config).drain()
    install_late_spec(tmp_path)
    assert "reconverted 6, unknown_revision: 6" in reconvert(config)
    assert "reconverted 0" in reconvert(config)

    store = tmp_path / "store"
    side = {}
    for path in (store / UNKNOWN_HISTOGRAMS_TREE).rglob("*.zst"):
        for line in read_zst(path.read_bytes()):
            doc, _, text = line.partition(b"\t")
            assert doc.decode() not in side                      # nothing twice
            side[doc.decode()] = json.loads(text)["unknownHistograms"]
    assert side == {f"d{i}": {"MYSTERY": {"values": {"1": i}}} for i in range(12) if i % 4 < 2}
    assert store_outcomes(store) == {f"d{i}": ["ok"] for i in range(12)}   # each record once
    # Every day reconciles: the side lines are not records.
    checkpoint = CheckpointLog(store, tmp_path / "spool").load()
    [row] = day_rows(accepted.days, DayCounts(checkpoint.ledger), {}, {},
                     scan_store(store, SchemaRegistry()), frozenset(), export_enabled=False)
    assert (row["accepted"], row["converted"], row["invalid"]) == (12, 12, {})
    assert (row["pending_export"], row["reconciled"]) == (12, True)
