"""JobPool without real processes: restart recovery, and what a finished job's record keeps."""

from __future__ import annotations

import json

from twisted.internet.error import ProcessDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from appliance.jobs.jobdir import JobDir
from appliance.jobs.pool import JobPool


class _Transport:
    pid = 4242

    def signalProcess(self, name):
        self.signalled = name


class ProcessReactor(MemoryReactorClock):
    """A MemoryReactorClock that records spawnProcess calls."""

    def __init__(self):
        super().__init__()
        self.spawned = []

    def spawnProcess(self, protocol, executable, args, env=None, childFDs=None, **kw):
        self.spawned.append((protocol, args))
        return _Transport()


def old_job(root, job_id: str, state: str) -> JobDir:
    jd = JobDir(root / job_id)
    (jd.root / "script").mkdir(parents=True)
    (jd.root / "script" / "t.py").write_text("def map(k, d, v, c): pass\n")
    jd.write(jd.request, {"name": "t.py"})
    jd.write(jd.state, {"id": job_id, "name": "t.py", "state": state, "submitted_at": 1.0,
                        "started_at": None, "finished_at": None, "error": None,
                        "options": {"timeout": None}})
    jd.work.mkdir()
    return jd


def test_after_a_restart_running_jobs_failed_and_queued_ones_run(tmp_path):
    reactor = ProcessReactor()
    running = old_job(tmp_path, "j-1", "running")
    old_job(tmp_path, "j-2", "queued")
    pool = JobPool(reactor, tmp_path, ["appliance", "_job-worker"])
    pool.start()
    failed = pool.get("j-1")
    assert failed["state"] == "failed" and "server stopped" in failed["error"]
    assert failed["progress"]["phase"] == "done" and not running.work.exists()
    assert json.loads(running.state.read_text())["state"] == "failed"
    [(_, argv)] = reactor.spawned
    assert argv == ["appliance", "_job-worker", str(tmp_path / "j-2")]
    assert pool.get("j-2")["state"] == "running"


def test_a_finished_job_keeps_its_summary_progress_and_output_size(tmp_path):
    reactor = ProcessReactor()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"])
    pool.start()
    job = pool.submit({"script": "def map(k, d, v, c): pass\n", "name": "t.py"})
    assert job["state"] == "running" and job["progress"] == {"phase": "listing"}
    jd = JobDir(tmp_path / "jobs" / job["id"])
    jd.write(jd.progress, {"phase": "merge", "records": 7})
    assert pool.get(job["id"])["progress"]["records"] == 7  # read while it runs
    jd.output.write_text("records\t7\n")
    jd.write(jd.result, {"state": "succeeded", "summary": {"records": 7}})
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))
    done = pool.get(job["id"])
    assert done["state"] == "succeeded" and done["summary"] == {"records": 7}
    assert done["progress"] == {"phase": "done", "records": 7} and done["output_bytes"] == 10
    jd.progress.unlink()  # a finished job is answered from its record
    assert pool.get(job["id"])["progress"]["records"] == 7
    assert pool.read_output(job["id"], 0, 100)["text"] == "records\t7\n"
