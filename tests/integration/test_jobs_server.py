"""Jobs in a running server: submitted through the admin API and `appliance job`, run in
worker subprocesses over store + spool, cancelled, timed out, crashing; the pool survives."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from appliance.admin.client import AdminError
from appliance.cli.main import main
from tests import pings
from tests.integration.serverproc import ServerProcess, post

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs"
SLOW_MAP = "import threading\n\ndef map(k, d, v, c):\n    threading.Event().wait()\n"


def start_with_pings(tmp: Path, **env: str) -> ServerProcess:
    """A server (settings `env` besides the test ones) with 30 pings, part converted, part
    still in the spool (small segments)."""
    env = {"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp / "specs")),
           "APPLIANCE_STORE_MAX_FILE_AGE": "0.2", "APPLIANCE_CONVERTER_IDLE_WAIT": "0.05",
           "APPLIANCE_SPOOL_MAX_SEGMENT_BYTES": "4096", **env}
    srv = ServerProcess(tmp / "data", env=env).start()
    try:
        for i in range(20):
            assert post(srv, f"/submit/telemetry/job-{i}/{pings.DIMS}", pings.body(i)).status == 200
        srv.wait_for_log(r"converter: \d+ converted")
        for i in range(20, 30):
            assert post(srv, f"/submit/telemetry/job-{i}/{pings.DIMS}", pings.body(i)).status == 200
    except BaseException:
        srv.stop()
        raise
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with 30 pings (`start_with_pings`) and an invalid one; two jobs at a time."""
    srv = start_with_pings(tmp_path_factory.mktemp("jobs"), APPLIANCE_JOBS_MAX_RUNNING="2")
    try:
        assert post(srv, "/submit/telemetry/bad-1/x/y/z/w/v", b"{nope").status == 200
        yield srv
    finally:
        assert srv.stop() == 0


def submit(server, script: str, **options) -> dict:
    return server.admin().submit_job({"script": script, "name": "t.py", **options})


def wait_end(server, job: dict, state: str) -> dict:
    server.wait_for_log(rf"job {job['id']} {state}")
    return server.admin().job(job["id"])


def run_cli(server, *argv) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["job", *argv, "--data-dir", str(server.data_dir)], stdout=out)
    return code, out.getvalue()


def test_a_job_counts_store_and_spool_records_once(server):
    job = submit(server, (EXAMPLES / "count.py").read_text())
    assert job["state"] in ("queued", "running") and job["options"]["mappers"] == 2
    done = wait_end(server, job, "succeeded")
    chunk = server.admin().job_output(job["id"])
    assert chunk["text"].split("\t")[-1].strip() == "30" and chunk["eof"]
    assert done["summary"]["records"] == 30 and done["progress"]["phase"] == "done"
    assert done["summary"]["extra"]["spool_records"] > 0  # some not converted yet
    log = server.admin().job_log(job["id"])["text"]
    assert "30 records" in log
    assert not (server.data_dir / "jobs" / job["id"] / "work").exists()


def test_bad_submissions_are_refused_with_the_reason(server):
    with pytest.raises(AdminError) as e:
        submit(server, "def map(k, d, v, c)\n    pass\n")
    assert e.value.status == 400 and "does not compile" in e.value.message
    with pytest.raises(AdminError) as e:
        submit(server, "def map(k, d, v, c): pass\n", mappers=0)
    assert e.value.status == 400 and "mappers" in e.value.message
    with pytest.raises(AdminError) as e:
        submit(server, "def map(k, d, v, c): pass\n", filter={"version": 1, "oops": 1})
    assert e.value.status == 400 and "filter" in e.value.message
    with pytest.raises(AdminError) as e:
        submit(server, "def map(k, d, v, c): pass\n", filter={
            "version": 1, "dimensions": [{"field_name": "appUpdateChanel",
                                          "allowed_values": ["beta"]}]})
    assert e.value.status == 400 and e.value.message.startswith(
        "filter: no dimension named 'appUpdateChanel' in the schema (its dimensions: "
        "telemetry: reason, appName, appUpdateChannel,")
    with pytest.raises(AdminError) as e:
        server.admin().job("j-nope")
    assert e.value.status == 404


def test_a_crashing_script_fails_its_job_and_the_pool_goes_on(server):
    raising = submit(server, "def map(k, d, v, c):\n    raise RuntimeError('boom')\n")
    dying = submit(server, "import os\n\ndef map(k, d, v, c):\n    os._exit(7)\n")
    failed = wait_end(server, raising, "failed")
    assert "map raised RuntimeError: boom" in failed["error"] and "t.py" in failed["error"]
    assert "exited with code 7" in wait_end(server, dying, "failed")["error"]
    with pytest.raises(AdminError) as e:
        server.admin().job_output(raising["id"])
    assert e.value.status == 409
    again = submit(server, (EXAMPLES / "count.py").read_text())
    assert wait_end(server, again, "succeeded")["summary"]["records"] == 30
    assert post(server, "/submit/telemetry/bad-2/x/y/z/w/v", b"{nope").status == 200
    leftovers = [p for p in (server.data_dir / "jobs").glob("*/work")]
    assert leftovers == [] and not list((server.data_dir / "tmp").glob("snapshot-*"))


def test_cancel_and_timeout_stop_the_worker_and_its_processes(server):
    slow = submit(server, SLOW_MAP)
    server.wait_for_log(rf"job {slow['id']} running")
    cancelled = server.admin().cancel_job(slow["id"])
    assert cancelled["id"] == slow["id"]
    assert wait_end(server, slow, "cancelled")["error"] == "cancelled"
    # the CLI shows the state a cancel ends in, not the state it was asked in
    slow = submit(server, SLOW_MAP)
    server.wait_for_log(rf"job {slow['id']} running")
    code, out = run_cli(server, "cancel", slow["id"])
    assert code == 0 and out.startswith(f"job {slow['id']} (t.py): cancelled"), out
    timed = submit(server, SLOW_MAP, timeout=1)
    assert "timed out after 1.0 s" in wait_end(server, timed, "timed_out")["error"]
    assert not list((server.data_dir / "jobs").glob("*/work"))
    # a queued job cancelled before it starts, while two slow ones hold both slots
    holders = [submit(server, SLOW_MAP) for _ in range(2)]
    queued = submit(server, SLOW_MAP)
    assert server.admin().cancel_job(queued["id"])["state"] == "cancelled"
    for h in holders:
        server.admin().cancel_job(h["id"])
        wait_end(server, h, "cancelled")
    assert server.admin().job(queued["id"])["started_at"] is None


def test_the_job_commands_talk_to_the_server(server, tmp_path):
    code, out = run_cli(server, "submit", str(EXAMPLES / "count_by_os.py"), "--filter",
                        str(EXAMPLES / "filters" / "all.json"), "--wait")
    job_id = out.splitlines()[0]
    assert code == 0 and "succeeded" in out, out
    assert "  sources: " in out  # records read per source (spool, store)
    code, out = run_cli(server, "output", job_id)
    counts = {line.split("\t")[0]: int(line.split("\t")[1]) for line in out.splitlines()}
    assert sum(counts.values()) == 30 and set(counts) == {"WINNT", "Linux", "Darwin"}
    code, out = run_cli(server, "list")
    assert code == 0 and out.split()[:5] == ["JOB", "STATE", "SUBMITTED", "RECORDS", "NAME"]
    assert job_id in out and "succeeded" in out
    code, out = run_cli(server, "cancel", job_id)
    assert code == 0 and "already finished (succeeded): nothing to cancel" in out
    code, out = run_cli(server, "status", job_id, "--json")
    assert json.loads(out)["summary"]["records"] == 30
    assert sum(json.loads(out)["summary"]["sources"].values()) == 30
    code, out = run_cli(server, "log", job_id, "--output", str(tmp_path / "log.txt"))
    assert code == 0 and "30 records" in (tmp_path / "log.txt").read_text()
    err = io.StringIO()
    assert main(["job", "status", "j-missing", "--data-dir", str(server.data_dir)],
                stdout=io.StringIO(), stderr=err) == 2
    assert "no such job: j-missing (HTTP 404)" in err.getvalue()


def test_a_job_without_inputs_succeeds_with_a_warning(server, tmp_path):
    nothing = tmp_path / "nothing.json"
    nothing.write_text(json.dumps({"version": 1, "dimensions": [
        {"field_name": "submission_date", "allowed_values": ["20991231"]}]}))
    code, out = run_cli(server, "submit", str(EXAMPLES / "count.py"), "-f", str(nothing),
                        "-m", "1", "--num-reducers", "1", "--wait")
    job_id = out.splitlines()[0]
    assert code == 3 and "succeeded" in out
    assert "  warning: the job read no input records" in out
    record = server.admin().job(job_id)
    assert record["state"] == "succeeded"
    assert record["warning"].startswith("the job read no input records")
    assert record["options"]["mappers"] == 1
    assert "warning: the job read no input records" in server.admin().job_log(job_id)["text"]


def test_bad_lines_are_skipped_counted_and_logged_in_the_pool(server):
    job = submit(server, "import json\n\ndef map(k, d, v, c):\n"
                         "    if k.endswith('7'):\n        raise ValueError('no 7s')\n"
                         "    c.write('n', 1)\n\n"
                         "def reduce(k, vs, c):\n    c.write(k, sum(vs))\n")
    done = wait_end(server, job, "succeeded")
    sevens = sum(1 for i in range(30) if str(i).endswith("7"))  # job-7, job-17, job-27
    assert server.admin().job_output(job["id"])["text"] == f"n\t{30 - sevens}\n"
    assert done["summary"]["bad_lines"] == sevens and done["summary"]["errors"] == 0
    assert done.get("warning") is None
    log = server.admin().job_log(job["id"])["text"]
    assert f"bad lines: {sevens} records skipped" in log
    assert log.count("Bad line: ") == sevens and "(docId 'job-7'): ValueError: no 7s" in log
