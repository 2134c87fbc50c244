"""The converter's commit protocol, crash by crash."""

import json

from appliance.storage.checkpoint import Checkpoint, CheckpointLog


def setup(tmp_path):
    store, spool = tmp_path / "store", tmp_path / "spool"
    (store / ".tmp" / "g").mkdir(parents=True)
    spool.mkdir()
    (store / ".tmp" / "g" / "0.zst").write_bytes(b"zero")
    (store / ".tmp" / "g" / "1.zst").write_bytes(b"one")
    (spool / "sealed-1.seg").write_bytes(b"s1")
    (spool / "sealed-2.seg").write_bytes(b"s2")
    checkpoint = Checkpoint(offsets={"sealed-1.seg": 2, "sealed-2.seg": 1},
                            renames=[(".tmp/g/0.zst", "telemetry/a/n.g.0000.1.zst"),
                                     (".tmp/g/1.zst", "telemetry/b/c/n.g.0001.1.zst")],
                            delete=["sealed-1.seg"])
    return store, spool, CheckpointLog(store, spool), checkpoint


def test_commit_publishes_files_and_deletes_consumed_segments(tmp_path):
    store, spool, log, checkpoint = setup(tmp_path)
    log.commit(checkpoint)
    assert (store / "telemetry/a/n.g.0000.1.zst").read_bytes() == b"zero"
    assert (store / "telemetry/b/c/n.g.0001.1.zst").read_bytes() == b"one"
    assert not (spool / "sealed-1.seg").exists() and (spool / "sealed-2.seg").exists()
    saved = json.loads((store / ".checkpoint.json").read_bytes())
    assert saved == {"offsets": {"sealed-2.seg": 1}, "frontier": None, "renames": [],
                     "delete": [], "ledger": {}}


def test_crash_after_the_commit_point_is_finished_by_recover(tmp_path):
    store, spool, log, checkpoint = setup(tmp_path)
    (store / ".checkpoint.json").write_bytes(checkpoint.to_json())  # committed, not applied
    (store / ".tmp/g/0.zst").rename(store / "partly-done")  # one rename had happened...
    (store / "telemetry/a").mkdir(parents=True)
    (store / "partly-done").rename(store / "telemetry/a/n.g.0000.1.zst")
    offsets = log.recover().offsets
    assert offsets == {"sealed-2.seg": 1}
    assert (store / "telemetry/b/c/n.g.0001.1.zst").read_bytes() == b"one"
    assert (store / "telemetry/a/n.g.0000.1.zst").read_bytes() == b"zero"
    assert not (spool / "sealed-1.seg").exists()
    assert not (store / ".tmp").exists()


def test_crash_before_the_commit_point_discards_the_generation(tmp_path):
    store, spool, log, _ = setup(tmp_path)
    (store / ".checkpoint.json").write_bytes(Checkpoint(offsets={"sealed-1.seg": 1}).to_json())
    assert log.recover().offsets == {"sealed-1.seg": 1}
    assert not (store / ".tmp").exists()
    assert not (store / "telemetry").exists()
    assert (spool / "sealed-1.seg").exists()


def test_recover_with_no_checkpoint_starts_from_scratch(tmp_path):
    store, spool, log, _ = setup(tmp_path)
    assert log.recover().offsets == {}
    assert (spool / "sealed-1.seg").exists()
