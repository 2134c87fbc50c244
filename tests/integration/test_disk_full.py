"""A real full disk (a private tmpfs, see tests/tmpfs.py) under a running server: the spool,
the log and jobs. No crash, nothing acknowledged lost, and recovery by itself: /status is
back to 200 without any submission once space is freed."""

from __future__ import annotations

import io

import pytest

from appliance.admin.client import AdminError
from appliance.cli.main import main
from appliance.spool.reader import read_segment
from tests import pings
from tests.integration.serverproc import ServerProcess, eventually, post, request
from tests.tmpfs import fill, tmpfs_server

MiB = 1 << 20
FAST = {"APPLIANCE_SPOOL_DISK_CHECK_INTERVAL": "0.1", "APPLIANCE_ADMIN_LEDGER_INTERVAL": "0.2"}


def status(server: ServerProcess) -> int:
    return request(server, b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status


def cli_status(server: ServerProcess) -> tuple[int, str]:
    """`appliance status` against the server (its data dir is only visible through /proc)."""
    out, err = io.StringIO(), io.StringIO()
    url = (server.data_dir / "admin.url").read_text().strip()
    code = main(["status", "--admin", url, "--token-file", str(server.data_dir / "admin.token")],
                stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def spooled_ids(server: ServerProcess) -> list[str]:
    """The docIds of every record in the spool's segments."""
    segments = sorted((server.data_dir / "spool").glob("*.seg"))
    return [record.path.split("/")[3] for seg in segments for record in read_segment(seg)]


def test_a_full_disk_fails_the_spool_and_log_and_both_recover_by_themselves(tmp_path):
    # The converter is off: the records stay in the spool, where the test counts them.
    with tmpfs_server(tmp_path / "data", 24 * MiB, args=["--http"],
                      env={**FAST, "APPLIANCE_CONVERTER_ENABLED": "false"}) as server:
        acked = []
        for i in range(10):
            doc = f"before-{i}"
            assert post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", pings.body(i)).status \
                == 200
            acked.append(doc)
        filler = fill(server.data_dir)
        for i in range(20):  # the active segment's last page may still hold a record or two
            doc = f"full-{i}"
            full = post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", pings.body(i))
            if full.status != 200:
                break
            acked.append(doc)
        assert full.status == 507 and full.headers["retry-after"]
        assert status(server) == 503
        admin = server.admin()

        def log_failing() -> list[str]:
            # A client retrying: refused, never a crash; each refusal logs an error, and the
            # log file's last page may take a few lines before the log fails too.
            assert post(server, f"/submit/telemetry/retry/{pings.DIMS}", pings.body(0)).status \
                == 507
            return [p for p in admin.stats()["health"]["problems"] if "log file failing" in p]

        problems = eventually(log_failing, "the log's failure")
        assert "No space left" in problems[0] or "short write" in problems[0]
        health = admin.stats()["health"]["problems"]
        assert any(p.startswith("spool writes failing") for p in health)
        code, text = cli_status(server)
        assert code == 1 and "spool writes failing" in text
        assert server.proc.poll() is None

        filler.unlink()
        eventually(lambda: status(server) == 200, "/status 200 without a submission")
        eventually(lambda: admin.stats()["health"]["ok"], "health OK again",
                   show=lambda: admin.stats()["health"])
        code, text = cli_status(server)
        assert code == 0, text
        stats = admin.stats()
        assert stats["log"]["dropped_lines"] > 0 and stats["log"]["failing"] is None
        for i in range(5):
            doc = f"after-{i}"
            assert post(server, f"/submit/telemetry/{doc}/{pings.DIMS}", pings.body(i)).status \
                == 200
            acked.append(doc)
        spooled = spooled_ids(server)
        assert all(spooled.count(doc) == 1 for doc in acked), spooled
        log_text = (server.data_dir / "logs" / "appliance.log").read_text()
        assert "were dropped" in log_text and "spool writes succeed again" in log_text


JOB_SCRIPT = """
def map(key, dims, value, context):
    for i in range(200):
        context.write(key + str(i), "x" * 100_000)

def reduce(key, values, context):
    for v in values:
        context.write(key, v)
"""


def a_small_job_succeeds(server: ServerProcess) -> None:
    job = server.admin().submit_job({"script": JOB_SCRIPT.replace("200", "1"), "name": "ok.py"})
    server.wait_for_log(rf"job {job['id']} succeeded")


def test_jobs_respect_the_watermark_and_a_full_disk_fails_only_the_job(tmp_path):
    env = {**FAST, "APPLIANCE_CONVERTER_ENABLED": "false",  # jobs read the spool
           "APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp_path / "specs"))}
    with tmpfs_server(tmp_path / "data", 24 * MiB, args=["--http"], env=env) as server:
        for i in range(5):
            assert post(server, f"/submit/telemetry/job-{i}/{pings.DIMS}", pings.body(i)).status \
                == 200
        admin = server.admin()
        # 5 records x 200 x 100 kB of output (and as much in spills): far more than 24 MiB.
        job = admin.submit_job({"script": JOB_SCRIPT, "name": "big.py"})
        server.wait_for_log(rf"job {job['id']} failed")
        failed = admin.job(job["id"])
        assert "failed: the disk is full" in failed["error"], failed
        assert "free space and run the job again" in failed["error"]
        assert server.proc.poll() is None
        eventually(lambda: status(server) == 200, "/status 200 once the job's files are gone")
        assert not list((server.data_dir / "jobs").glob("*/work"))
        assert admin.stats()["health"]["ok"]
        a_small_job_succeeds(server)


def test_below_the_watermark_a_job_is_refused(tmp_path):
    with tmpfs_server(
        tmp_path / "data", 24 * MiB, args=["--http"],
        env={**FAST, "APPLIANCE_SPOOL_MIN_FREE_BYTES": str(8 * MiB)}) as server:
        admin = server.admin()
        filler = fill(server.data_dir)
        eventually(lambda: status(server) == 503, "the guard to see the disk low")
        with pytest.raises(AdminError) as e:
            admin.submit_job({"script": JOB_SCRIPT, "name": "big.py"})
        assert e.value.status == 507 and "disk space low" in e.value.message
        assert list((server.data_dir / "jobs").iterdir()) == []
        filler.unlink()
        eventually(lambda: status(server) == 200, "/status 200 once space is back")
        a_small_job_succeeds(server)


def test_with_receiver_processes_the_parents_health_follows_each_child(tmp_path):
    env = {**FAST, "APPLIANCE_CONVERTER_ENABLED": "false", "APPLIANCE_RECEIVER_PROCESSES": "2"}
    with tmpfs_server(tmp_path / "data", 24 * MiB, args=["--http"], env=env) as server:
        admin = server.admin()
        filler = fill(server.data_dir)

        def child_failing() -> list[str]:
            post(server, f"/submit/telemetry/retry/{pings.DIMS}", pings.body(0))
            return [p for p in admin.stats()["health"]["problems"] if "receiver process" in p]

        problems = eventually(child_failing, "a receiver process's failing spool")
        assert problems[0].startswith("spool writes failing (fsync/write errors): receiver "
                                      "process ")
        filler.unlink()
        eventually(lambda: status(server) == 200 and admin.stats()["health"]["ok"],
                   "/status 200 and health OK without a submission",
                   show=lambda: admin.stats()["health"])
