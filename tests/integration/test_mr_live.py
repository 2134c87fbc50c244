"""Jobs over spool + store + S3 while the server ingests, converts and exports: every record
acknowledged before a job starts is in its output, nothing is there twice."""

from __future__ import annotations

import re
import threading

from tests import pings
from tests.integration.fleet import pool_job
from tests.integration.serverproc import ServerProcess, post
from tests.integration.test_export import export_env


def run_job(server) -> tuple[list[str], dict]:
    """Run the docId job in the server; (docIds, {"s3": objects read, "spool": records})."""
    done, text = pool_job(server)
    log = server.admin().job_log(done["id"])["text"]
    remote = re.search(r"s3: (\d+) objects selected, (\d+) read locally", log)
    used = {"s3": int(remote[1]) - int(remote[2]),
            "spool": done["summary"]["extra"].get("spool_records", 0)}
    return [line.split("\t")[0] for line in text.splitlines()], used


def test_jobs_see_each_record_once_while_data_moves(tmp_path, s3, bucket):
    env = export_env(s3, bucket, APPLIANCE_EXPORT_INTERVAL="0.1")
    env.update({"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp_path / "specs")),
                "APPLIANCE_SPOOL_MAX_SEGMENT_AGE": "0.2", "APPLIANCE_STORE_MAX_FILE_AGE": "0.2",
                "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05"})
    server = ServerProcess(tmp_path / "data", env=env).start()
    accepted: list[str] = []
    sent: set[str] = set()
    stop = threading.Event()

    def ingest() -> None:
        i = 0
        while not stop.is_set():
            doc = f"live-{i}"
            sent.add(doc)
            if post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", pings.body(i)).status == 200:
                accepted.append(doc)
            i += 1

    writer = threading.Thread(target=ingest)
    try:
        server.wait_for_log(r"export: s3://\S+ reachable")
        writer.start()
        server.wait_for_log(r"export: uploaded")  # data in S3, the store and the spool
        used = []
        for _ in range(3):
            before = set(accepted)
            docs, sources = run_job(server)
            assert len(docs) == len(set(docs)), "a record was read twice"
            assert before <= set(docs) <= sent
            used.append(sources)
        stop.set()
        writer.join()
        docs, _ = run_job(server)
        assert sorted(docs) == sorted(accepted)
    finally:
        stop.set()
        if writer.is_alive():
            writer.join()
        assert server.stop() == 0
    # the jobs read from S3 and from the spool as well as from the store
    assert len(accepted) > 20 and all(u["s3"] > 0 for u in used)
    assert any(u["spool"] > 0 for u in used)
