"""JobPool without real processes: restart recovery, and what a finished job's record keeps."""

from __future__ import annotations

import errno
import json

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from appliance.jobs.jobdir import JobDir
from appliance.jobs.pool import JobPool, JobRecord, JobRefused, JobRequestError


class _Transport:
    pid = 4242

    def signalProcess(self, name):
        self.signalled = name


class ProcessReactor(MemoryReactorClock):
    """A MemoryReactorClock that records spawnProcess calls."""

    def __init__(self):
        super().__init__()
        self.spawned = []
        self.transports = []

    def spawnProcess(self, protocol, executable, args, env=None, childFDs=None, **kw):
        self.spawned.append((protocol, args))
        self.transports.append(_Transport())
        return self.transports[-1]


def outcome(d: Deferred):
    """What a Deferred that has fired holds: its result, or its Failure (then handled)."""
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def submitted(pool: JobPool, obj: dict) -> JobRecord:
    """Submit with file work that runs at once (no io given): the queued job's record."""
    record = outcome(pool.submit(obj))
    assert isinstance(record, JobRecord), record
    return record


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
    assert failed.state == "failed" and "server stopped" in failed.error
    assert failed.progress["phase"] == "done" and not running.work.exists()
    assert json.loads(running.state.read_text())["state"] == "failed"
    [(_, argv)] = reactor.spawned
    assert argv == ["appliance", "_job-worker", str(tmp_path / "j-2")]
    assert pool.get("j-2").state == "running"


def test_a_finished_job_keeps_its_summary_progress_and_output_size(tmp_path):
    reactor = ProcessReactor()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"])
    pool.start()
    job = submitted(pool, {"script": "def map(k, d, v, c): pass\n", "name": "t.py"})
    assert job.state == "running" and job.progress == {"phase": "listing"}
    jd = JobDir(tmp_path / "jobs" / job.id)
    jd.write(jd.progress, {"phase": "merge", "records": 7})
    assert pool.get(job.id).progress["records"] == 7  # read while it runs
    jd.output.write_text("records\t7\n")
    jd.write(jd.result, {"state": "succeeded", "summary": {"records": 7}})
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))
    done = pool.get(job.id)
    assert done.state == "succeeded" and done.summary == {"records": 7}
    assert done.progress == {"phase": "done", "records": 7} and done.output_bytes == 10
    jd.progress.unlink()  # a finished job is answered from its record
    assert pool.get(job.id).progress["records"] == 7
    assert outcome(pool.read_output(job.id, 0, 100))["text"] == "records\t7\n"


class Guard:
    """A DiskGuard stand-in: `low` set by the test, watchers called by `check()`."""

    def __init__(self):
        self.low = None
        self.watchers = []

    def watch(self, watcher):
        self.watchers.append(watcher)

    def check(self):
        for watcher in self.watchers:
            watcher(self)


SCRIPT = "def map(k, d, v, c): pass\n"


@pytest.mark.parametrize("name", ["..", ".", "a\x00b.py", "a/b.py", "", "tab\there.py",
                                  "x" * 201, "\ud800.py", 7])
def test_a_bad_job_name_is_refused_naming_the_field_and_leaves_nothing(tmp_path, name):
    pool = JobPool(ProcessReactor(), tmp_path / "jobs", ["appliance", "_job-worker"])
    pool.start()
    with pytest.raises(JobRequestError, match="^name must be"):
        pool.submit({"script": SCRIPT, "name": name})
    assert list((tmp_path / "jobs").iterdir()) == [] and pool.list() == []


def test_a_submission_that_cannot_be_stored_leaves_nothing(tmp_path, monkeypatch):
    pool = JobPool(ProcessReactor(), tmp_path / "jobs", ["appliance", "_job-worker"])
    pool.start()
    real_write = JobDir.write

    def full(self, path, obj):
        if path.name == "state.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, path, obj)

    monkeypatch.setattr(JobDir, "write", full)
    failure = outcome(pool.submit({"script": SCRIPT, "name": "t.py"}))
    assert failure.check(JobRefused) and "no space" in str(failure.value)
    assert list((tmp_path / "jobs").iterdir()) == [] and pool.list() == []


def test_below_the_watermark_jobs_are_refused_not_started_and_stopped(tmp_path):
    reactor, guard = ProcessReactor(), Guard()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], disk=guard)
    pool.start()
    running = submitted(pool, {"script": SCRIPT, "name": "a.py"})
    queued = submitted(pool, {"script": SCRIPT, "name": "b.py"})
    assert [pool.get(j.id).state for j in (running, queued)] == ["running", "queued"]
    guard.low = "disk space low: 5 bytes free"
    with pytest.raises(JobRefused, match="not accepting jobs while disk space low"):
        pool.submit({"script": SCRIPT, "name": "c.py"})
    assert len(pool.list()) == 2
    guard.check()  # the running job is stopped...
    [(protocol, _)] = reactor.spawned
    assert reactor.transports[0].signalled == "TERM"
    protocol.processEnded(Failure(ProcessTerminated(signal=15)))
    stopped = pool.get(running.id)
    assert (stopped.state, stopped.error) == ("failed",
                                                    "stopped: disk space low: 5 bytes free")
    never = pool.get(queued.id)  # ...and the queued one does not start
    assert (never.state, never.error) == ("failed",
                                                "not started: disk space low: 5 bytes free")
    assert len(reactor.spawned) == 1
    guard.low = None  # space is back: jobs are taken again
    assert submitted(pool, {"script": SCRIPT, "name": "d.py"}).state == "running"


def test_a_state_file_that_cannot_be_written_does_not_stop_the_pool(tmp_path, monkeypatch):
    reactor = ProcessReactor()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"])
    pool.start()
    job = submitted(pool, {"script": SCRIPT, "name": "a.py"})

    def full(self, path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JobDir, "write", full)
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))
    done = pool.get(job.id)
    assert done.state == "failed" and "without a result" in done.error
