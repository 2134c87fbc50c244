"""The export backlog: which files are waiting, and what happens to them after upload."""

import os
import time

from appliance.export.backlog import finish_local, finished_files, purge_retained


def make(store, key, data=b"x", age=0.0):
    path = store / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_finished_files_oldest_first_skipping_temporary_and_hidden(tmp_path):
    make(tmp_path, "telemetry/a/new.zst", age=10)
    make(tmp_path, "telemetry/b/old.zst", age=100)
    make(tmp_path, ".tmp/gen/000001.zst")
    make(tmp_path, ".checkpoint.json")
    make(tmp_path, "telemetry/a/notes.txt")
    assert [f.key for f in finished_files(tmp_path)] == ["telemetry/b/old.zst",
                                                          "telemetry/a/new.zst"]


def test_after_upload_the_file_is_deleted_or_retained_then_purged(tmp_path):
    store, kept = tmp_path / "store", tmp_path / "exported"
    make(store, "t/a/one.zst", b"1")
    make(store, "t/a/two.zst", b"2")
    one, two = finished_files(store)
    finish_local(one, None)
    assert not one.path.exists()
    finish_local(two, kept)
    assert not two.path.exists() and (kept / "t/a/two.zst").read_bytes() == b"2"
    finish_local(two, kept)  # already gone (another exporter): no error
    now = time.time()
    assert purge_retained(kept, retain_days=1, now=now) == 0  # retention counts from the export
    assert purge_retained(kept, retain_days=1, now=now + 2 * 86400) == 1
    assert not (kept / "t/a/two.zst").exists()
