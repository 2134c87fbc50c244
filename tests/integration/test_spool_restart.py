"""Records left in the active segment by an earlier run reach the store with no new submission."""

from __future__ import annotations

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
