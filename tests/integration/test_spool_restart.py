"""Restarts: records left in the active segment by an earlier run reach the store with no
new submission, and records added while the server was stopped are counted as accepted."""

from __future__ import annotations

import io
import json
import struct

from appliance.cli.main import main
from appliance.spool import SpoolDir
from tests.integration.serverproc import ServerProcess, eventually, post

RECORDS = 5


def test_an_idle_restart_still_converts_what_the_active_segment_holds(tmp_path):
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir, env={"APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "3600"}).start()
    try:
        for i in range(RECORDS):
            assert post(first, f"/submit/telemetry/doc{i}", b'{"ver": 2, "n": %d}' % i).status \
                == 200
    finally:
        first.stop()
    spool = SpoolDir(data_dir / "spool")
    assert spool.current.stat().st_size > 0 and not spool.sealed_segments()

    second = ServerProcess(data_dir, env={"APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.5",
                                          "APPLIANCE_STORE_MAX_FILE_AGE": "0.5"}).start()
    try:
        admin = second.admin()
        eventually(lambda: admin.stats()["converter"].get("converted") == RECORDS,
                   "the records of the old active segment converted",
                   show=lambda: admin.stats()["converter"])
    finally:
        second.stop()


def _raw_log_v1(path, records: int) -> None:
    """A 2013 v1 raw log of `records` submissions."""
    rows = []
    for i in range(records):
        where, body = f"imported{i}/idle-daily/Firefox/23.0/release/2013".encode(), b"{}"
        rows.append(struct.pack("<BHIQ", 0x1E, len(where), len(body), 1_378_822_911_255 + i)
                    + where + body)
    path.write_bytes(b"".join(rows))


def test_a_clean_stop_lists_the_spool_and_what_is_added_while_stopped_counts(tmp_path):
    data_dir = tmp_path / "data"
    env = {"APPLIANCE_CONVERTER_ENABLED": "false"}  # the spool stays as it is
    first = ServerProcess(data_dir, env=env).start()
    try:
        for i in range(RECORDS):
            assert post(first, f"/submit/telemetry/doc{i}", b'{"ver": 2}').status == 200
    finally:
        assert first.stop() == 0
    accepted = data_dir / "ledger" / "accepted.json"
    saved = json.loads(accepted.read_bytes())
    assert saved["spool_at_stop"] == SpoolDir(data_dir / "spool").sizes() != {}

    log = tmp_path / "telemetry.log"
    _raw_log_v1(log, 2)
    assert main(["import", str(log), "--data-dir", str(data_dir)], stdout=io.StringIO()) == 0

    second = ServerProcess(data_dir, env=env).start()
    try:
        # Counted before it listened: the import changed the spool, so it was read.
        assert "spool_at_stop" not in json.loads(accepted.read_bytes())
        days = second.admin().ledger()["days"]
        assert sum(day["accepted"] for day in days) == RECORDS + 2
    finally:
        assert second.stop() == 0
