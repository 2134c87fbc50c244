"""A job's snapshot of store + spool sees every record once while the converter and an
exporter move the data underneath it."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import pytest

from appliance.convert.factory import converter_loop, record_converter
from appliance.export.backlog import finish_local, finished_files
from appliance.mr.inputs import select_inputs
from appliance.mr.snapshot import START, after_frontier, take_snapshot
from appliance.mr.sources import spool_records, store_records
from appliance.node import node_identity
from appliance.storage.filters import Filter
from appliance.storage.schema import SchemaRegistry
from tests.stores import config_for, make_spool

SCHEMAS = SchemaRegistry()
VALID = Filter(schemas=SCHEMAS)  # every valid telemetry partition


def test_after_frontier_compares_this_nodes_generations_with_the_frontier():
    frontier = ("00000000000000000200-1-aa", 0x40)
    assert after_frontier("n1.00000000000000000200-1-aa-40.0000.3.zst", "n1", frontier)
    assert after_frontier("n1.00000000000000000300-1-aa-0.0000.3.zst", "n1", frontier)
    assert not after_frontier("n1.00000000000000000200-1-aa-3f.0000.3.zst", "n1", frontier)
    assert not after_frontier("n1.00000000000000000100-1-aa-ff.0001.3.zst", "n1", frontier)
    # another node's files, names that are not generations, and no frontier at all
    assert not after_frontier("n2.00000000000000000300-1-aa-0.0000.3.zst", "n1", frontier)
    assert not after_frontier("n1.imported.0000.3.zst", "n1", frontier)
    assert not after_frontier("n1.00000000000000000300-1-aa-0.0000.3.zst", "n1", None)
    # nodes are told apart by id: the same label is another node, another label the same one
    me, other = "vm-aaaaaaaaaaaaaaaa", "vm-bbbbbbbbbbbbbbbb"
    assert not after_frontier(f"{other}.00000000000000000300-1-aa-0.0000.3.zst", me, frontier)
    assert after_frontier("renamed-aaaaaaaaaaaaaaaa.00000000000000000300-1-aa-0.0000.3.zst", me,
                          frontier)


def test_before_the_first_commit_the_frontier_is_the_start_of_the_spool(tmp_path):
    """No checkpoint yet: every record is in the spool, so any file of this node that a
    commit makes meanwhile (and an exporter ships) is not read a second time."""
    make_spool(tmp_path, 10, per_segment=5)
    snap = take_snapshot(tmp_path / "store", tmp_path / "spool", tmp_path / "tmp" / "s", VALID,
                         node_id="n1")
    try:
        assert snap.frontier == START and len(snap.spool_pieces) == 2
        assert snap.after_frontier("n1.00000000000000000001-1-aa-0.0000.3.zst")
        assert not snap.after_frontier("n2.00000000000000000001-1-aa-0.0000.3.zst")
    finally:
        snap.remove()


def read_snapshot(snap, config, flt=None) -> tuple[list[str], Counter]:
    """Every docId the snapshot holds (store lines, then spool records converted)."""
    docs = [doc for f in snap.store_files for _, _, doc, *_ in store_records(f)]
    counts: Counter = Counter()
    src = snap.spool_input
    if src is not None:
        converter = record_converter(config)
        docs += [doc for _, _, doc, *_ in spool_records(src, converter, SCHEMAS, flt, counts)]
    return docs, counts


def read_exported(root: Path, snap) -> list[str]:
    """docIds of the 'exported' copies the snapshot does not already cover (what a job reads
    from S3)."""
    docs = []
    for f in select_inputs(root, VALID, SCHEMAS):
        key = Path(f.path).relative_to(root).as_posix()
        if snap.local_path(key) is not None or snap.after_frontier(Path(f.path).name):
            continue
        docs += [doc for _, _, doc, *_ in store_records(f)]
    return docs


@pytest.mark.parametrize("processes", ["1", "2"])  # 2: worker processes write
def test_a_snapshot_of_a_half_converted_spool_has_every_record_once(tmp_path, processes):
    expected = make_spool(tmp_path, 120, per_segment=20)
    valid = sorted(d for d, kind in expected.items() if kind == "ok")
    config, _ = config_for(tmp_path, APPLIANCE_STORE_MAX_FILE_BYTES="50000",
                           APPLIANCE_CONVERTER_PROCESSES=processes)
    loop = converter_loop(config)
    loop.recover()
    segments = loop.spool.sealed_segments()
    loop._convert_segment(segments[0], None)  # one segment and a bit: commits on the way
    loop.commit()
    loop.close()
    snap = take_snapshot(tmp_path / "store", tmp_path / "spool", tmp_path / "tmp" / "s",
                         VALID, node_id=node_identity(config).name, attempts=1)
    try:
        docs, counts = read_snapshot(snap, config)
        assert snap.frontier is not None and snap.store_files and snap.spool_pieces
        assert sorted(docs) == valid
        assert counts["spool_invalid"] > 0 and counts["spool_duplicates"] == 0
    finally:
        snap.remove()
    assert not (tmp_path / "tmp" / "s").exists()


@pytest.mark.parametrize("processes", ["1", "2"])  # 2: worker processes write
def test_snapshots_taken_while_the_converter_commits_and_files_are_exported(tmp_path, processes):
    """The converter commits small generations in one thread, an 'exporter' moves finished
    files to another tree (as after a verified upload) in another, and every snapshot plus
    the exported files it does not cover holds each valid record exactly once."""
    expected = make_spool(tmp_path, 400, per_segment=10)
    valid = sorted(d for d, kind in expected.items() if kind == "ok")
    config, _ = config_for(tmp_path, APPLIANCE_STORE_MAX_FILE_BYTES="20000",
                           APPLIANCE_CONVERTER_PROCESSES=processes)
    store, exported = tmp_path / "store", tmp_path / "exported"
    loop = converter_loop(config)
    stop = threading.Event()

    def export_forever():
        while not stop.is_set():
            for f in finished_files(store):
                finish_local(f, exported)

    threads = [threading.Thread(target=loop.run, args=(stop, 0.01)),
               threading.Thread(target=export_forever)]
    for t in threads:
        t.start()
    seen_states = set()
    try:
        for i in range(40):
            snap = take_snapshot(store, tmp_path / "spool", tmp_path / "tmp" / f"s{i}",
                                 VALID, node_id=node_identity(config).name)
            try:
                docs, _ = read_snapshot(snap, config)
                docs += read_exported(exported, snap)
                assert sorted(docs) == valid, f"snapshot {i}"
                seen_states.add((bool(snap.store_files), bool(snap.spool_pieces)))
            finally:
                snap.remove()
            if loop.counts.idle and i >= 15:
                break
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert loop.counts.commits > 3  # the data moved while snapshots were taken


def test_spool_records_pass_the_filter_and_skip_invalid_ones(tmp_path):
    expected = make_spool(tmp_path, 40, per_segment=40)
    config, _ = config_for(tmp_path)

    def channel(name):
        return Filter.from_dict({"version": 1, "dimensions": [
            {"field_name": "appUpdateChannel", "allowed_values": [name]}]}, SCHEMAS)

    snap = take_snapshot(tmp_path / "store", tmp_path / "spool", tmp_path / "tmp" / "s",
                         VALID, node_id="n")
    try:
        everything, counts = read_snapshot(snap, config)
        assert sorted(everything) == sorted(d for d, k in expected.items() if k == "ok")
        assert counts["spool_invalid"] == sum(1 for k in expected.values() if k == "invalid")
        assert read_snapshot(snap, config, channel("release"))[0] == everything
        assert read_snapshot(snap, config, channel("beta"))[0] == []
    finally:
        snap.remove()
