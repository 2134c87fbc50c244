"""`[receiver] processes = 2`: two receiver children on one port, one spool, one set of stats."""

from __future__ import annotations

import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

from appliance.spool import SpoolDir, read_segment
from tests.integration.serverproc import ServerProcess, eventually, post

STARTED = r"receiver process (\d) started \(pid (\d+)\)"


def spooled(data_dir):
    return [r for seg in SpoolDir(data_dir / "spool").all_segments() for r in read_segment(seg)]


def submit_many(server: ServerProcess, tag: str, n: int) -> list[bytes]:
    """POST n bodies, each on its own connection; returns those answered 200."""
    def one(i: int):
        body = b'{"tag": "%s", "i": %d}' % (tag.encode(), i)
        return body, post(server, f"/submit/telemetry/{tag}-{i}", body).status

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(n)))
    assert [status for _, status in results] == [200] * n
    return [body for body, _ in results]


def wait_for_stats(server: ServerProcess, predicate, timeout: float = 30.0) -> dict:
    """The admin API's stats once `predicate` holds (children report once a second)."""
    admin = server.admin()

    def matching() -> dict | None:
        stats = admin.stats()
        return stats if predicate(stats) else None

    return eventually(matching, "the stats", timeout, show=admin.stats)


def test_two_processes_share_the_port_the_spool_and_the_stats(tmp_path):
    server = ServerProcess(tmp_path / "data", env={"APPLIANCE_RECEIVER_PROCESSES": "2"}).start()
    try:
        pids = dict(server.wait_for_log(STARTED).groups() for _ in range(2))
        assert sorted(pids) == ["0", "1"]
        acked = submit_many(server, "a", 60)

        def counted(stats, n=60):
            return (stats["ingest"]["requests_by_status"].get("200") == n
                    and stats["spool"]["records"] == n)

        stats = wait_for_stats(server, counted)
        assert stats["ingest"]["latency_seconds"]["count"] == 60
        assert stats["ingest"]["requests_by_form"] == {"telemetry": 60}

        os.kill(int(pids["0"]), signal.SIGKILL)
        server.wait_for_log(r"receiver process 0 exited .*restarting")
        slot, pid = server.wait_for_log(STARTED).groups()
        assert slot == "0" and pid != pids["0"]
        acked += submit_many(server, "b", 40)
        wait_for_stats(server, lambda s: counted(s, 100))
    finally:
        assert server.stop() == 0
    records = spooled(server.data_dir)
    bodies = [r.body for r in records]
    assert sorted(bodies) == sorted(acked)  # every 200 durable, each once
    # Each writer has its own record-id prefix: the first 60 went to both children.
    first_writers = {r.record_id[:8] for r in records if b'"tag": "a"' in r.body}
    assert len(first_writers) == 2
    # The children's acknowledged records reach the parent's accepted-records ledger.
    ledger = json.loads((server.data_dir / "ledger" / "accepted.json").read_text())
    assert sum(ledger["days"].values()) == len(acked)
    # A child was killed: what it appended last may be uncounted, so the next start reads
    # the spool (the stop does not list it as all counted).
    assert "spool_at_stop" not in ledger
