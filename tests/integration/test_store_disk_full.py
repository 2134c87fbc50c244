"""A real full disk (a private tmpfs, see tests/tmpfs.py) under the converter: it pauses instead
of crash-looping, says so in health, and once space is freed converts everything, once."""

from __future__ import annotations

import pytest

from tests import pings
from tests.integration.serverproc import eventually, post
from tests.integration.test_poison_records import store_outcomes
from tests.tmpfs import fill, tmpfs_server

MiB = 1 << 20
# Segments seal 2 s after their first record: time to fill the disk before the converter
# sees them. (The converter then waits up to the accepted ledger's 30 s grace, as the ledger
# cannot save the sealed segment's counts on the full disk.)
ENV = {"APPLIANCE_SPOOL_DISK_CHECK_INTERVAL": "0.1", "APPLIANCE_ADMIN_LEDGER_INTERVAL": "0.1",
       "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.2",
       "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05"}


@pytest.mark.slow
def test_a_full_disk_pauses_the_converter_and_it_resumes_by_itself(tmp_path):
    env = dict(ENV, APPLIANCE_HISTOGRAMS_SPEC_DIR=str(pings.write_spec(tmp_path / "specs")))
    with tmpfs_server(tmp_path / "data", 24 * MiB, args=["--http"], env=env) as server:
        docs = [f"doc-{i}" for i in range(10)]
        for i, doc in enumerate(docs):
            assert post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", pings.body(i)).status \
                == 200
        admin = server.admin()
        eventually(lambda: sum(d["accepted"] for d in admin.ledger()["days"]) == 10,
                   "the accepted counts saved")
        filler = fill(server.data_dir)
        assert not list((server.data_dir / "store").rglob("*.zst"))  # nothing converted yet

        def paused() -> list[str]:
            return [p for p in admin.stats()["health"]["problems"]
                    if p.startswith("converter paused: store write failed")]

        problems = eventually(paused, "the converter's pause", timeout=120,
                              show=lambda: admin.stats())
        assert "No space left" in problems[0]
        assert admin.stats()["converter"]["restarts"] == 0  # paused, never crashed

        filler.unlink()
        days = eventually(lambda: [d for d in admin.ledger()["days"] if d["converted"] == 10
                                   and d["reconciled"] and not d["pending_conversion"]],
                          "everything converted", timeout=120, show=lambda: admin.ledger())
        assert len(days) == 1
        stats = admin.stats()
        assert not stats["converter"]["paused"] and stats["converter"]["restarts"] == 0
        assert not any(p.startswith("converter") for p in stats["health"]["problems"])
        assert store_outcomes(server.data_dir / "store") == {doc: ["ok"] for doc in docs}
