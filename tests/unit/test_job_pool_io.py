"""The job pool's file work (new job directories, state writes, removing work dirs) runs
on its io thread, in order, and stop() waits for it; here the "thread" is a queue the test
runs by hand."""

from __future__ import annotations

import json

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.python.failure import Failure

from appliance.jobs.jobdir import JobDir
from appliance.jobs.pool import JobPool, JobRecord, JobRefused, JobRequestError, NoOutput
from appliance.jobs.states import JobState
from tests.unit.test_job_pool import Guard, ProcessReactor, old_job, outcome

SCRIPT = "def map(k, d, v, c): pass\n"


class QueuedIO:
    """An io runner whose calls wait until the test runs them (`run_next`, `run_all`)."""

    def __init__(self):
        self.queue: list[tuple] = []

    def __call__(self, f, *args) -> Deferred:
        d = Deferred()
        self.queue.append((d, f, args))
        return d

    def run_next(self) -> None:
        d, f, args = self.queue.pop(0)
        try:
            result = f(*args)
        except Exception:
            d.errback()
        else:
            d.callback(result)

    def run_all(self) -> None:
        while self.queue:
            self.run_next()


def stored(pool: JobPool, io: QueuedIO, obj: dict) -> JobRecord:
    """Submit, then run the file work queued so far: the queued job's record."""
    submitting = pool.submit(obj)
    io.run_all()
    return outcome(submitting)


def test_a_finished_jobs_files_are_handled_off_the_reactor_thread_in_order(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], io=io)
    pool.start()
    io.run_all()
    job = stored(pool, io, {"script": SCRIPT, "name": "t.py"})
    jd = JobDir(tmp_path / "jobs" / job.id)
    jd.work.mkdir()
    jd.write(jd.result, {"state": "succeeded", "summary": {"records": 1}})
    io.run_all()
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))
    assert pool.get(job.id).state is JobState.SUCCEEDED  # at once, in memory
    assert json.loads(jd.state.read_text())["state"] == "running"  # not yet on disk
    assert jd.work.exists()
    stopping = Deferred.fromCoroutine(pool.stop())
    assert not stopping.called  # it waits for the file work
    io.run_all()
    assert stopping.called
    assert json.loads(jd.state.read_text())["state"] == "succeeded"
    assert not jd.work.exists()


def test_pruned_jobs_are_removed_on_the_io_thread(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], io=io, keep=0)
    pool.start()
    io.run_all()
    first = stored(pool, io, {"script": SCRIPT, "name": "a.py"})
    pool.cancel(first.id)  # running: SIGTERM ...
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))  # ... and it ended: cancelled
    io.run_all()
    pool.submit({"script": SCRIPT, "name": "b.py"})
    io.run_next()  # b's directory is written: b is queued, which prunes a (keep=0)
    assert first.id not in [j.id for j in pool.list()]
    assert (tmp_path / "jobs" / first.id).exists()
    io.run_all()
    assert not (tmp_path / "jobs" / first.id).exists()


def test_a_submission_writes_nothing_on_the_calling_thread(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], io=io)
    pool.start()
    io.run_all()
    before = sorted((tmp_path / "jobs").iterdir())
    submitting = pool.submit({"script": SCRIPT, "name": "t.py"})
    assert sorted((tmp_path / "jobs").iterdir()) == before  # no job dir yet
    assert not submitting.called and pool.list() == [] and reactor.spawned == []
    io.run_all()
    job = outcome(submitting)
    jd = JobDir(tmp_path / "jobs" / job.id)
    assert jd.read(jd.request)["name"] == "t.py" and jd.script.read_text() == SCRIPT
    assert json.loads(jd.state.read_text())["state"] == "running"
    assert [j.id for j in pool.list()] == [job.id] and job.state is JobState.RUNNING
    [(_, argv)] = reactor.spawned
    assert argv[-1] == str(jd.root)


@pytest.mark.parametrize("obj, low, error", [
    ({"name": "t.py"}, None, JobRequestError),
    ({"script": SCRIPT, "name": "../t.py"}, None, JobRequestError),
    ({"script": SCRIPT, "name": "t.py"}, "disk space low: 5 bytes free", JobRefused),
])
def test_a_refusal_that_needs_no_disk_is_raised_at_once(tmp_path, obj, low, error):
    guard = Guard()
    guard.low = low
    io = QueuedIO()
    pool = JobPool(ProcessReactor(), tmp_path / "jobs", ["appliance", "_job-worker"], io=io,
                   disk=guard)
    pool.start()
    io.run_all()
    with pytest.raises(error):
        pool.submit(obj)
    assert io.queue == [] and pool.list() == []


def test_jobs_are_queued_in_the_order_submitted(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], io=io)
    pool.start()
    io.run_all()
    submitting = [pool.submit({"script": SCRIPT, "name": f"{n}.py"}) for n in "abc"]
    io.run_all()
    jobs = [outcome(d) for d in submitting]
    assert [j.state for j in jobs] == ["running", "queued", "queued"]
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))
    assert [pool.get(j.id).state for j in jobs] == ["failed", "running", "queued"]
    assert reactor.spawned[1][1][-1].endswith(jobs[1].id)


def test_a_job_stored_while_the_pool_stops_is_cancelled_not_started(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], io=io)
    pool.start()
    io.run_all()
    submitting = pool.submit({"script": SCRIPT, "name": "t.py"})
    stopping = Deferred.fromCoroutine(pool.stop())
    io.run_all()
    assert stopping.called and reactor.spawned == []
    job = pool.get(outcome(submitting).id)
    assert (job.state, job.error) == ("cancelled", "cancelled before it started")
    jd = JobDir(tmp_path / "jobs" / job.id)
    assert json.loads(jd.state.read_text())["state"] == "cancelled"


def test_the_jobs_of_earlier_runs_are_read_on_the_io_thread(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    old_job(tmp_path, "j-1", "queued")
    pool = JobPool(reactor, tmp_path, ["appliance", "_job-worker"], io=io)
    starting = pool.start()
    assert not starting.called and pool.list() == [] and reactor.spawned == []
    io.run_all()
    assert starting.called and pool.get("j-1").state is JobState.RUNNING
    [(_, argv)] = reactor.spawned
    assert argv[-1] == str(tmp_path / "j-1")


def test_pages_of_a_jobs_output_and_log_are_read_on_the_io_thread(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    jd = old_job(tmp_path, "j-1", "succeeded")
    jd.output.write_text("records\t7\n")
    jd.log.write_text("worker: done\n")
    pool = JobPool(reactor, tmp_path, ["appliance", "_job-worker"], io=io)
    pool.start()
    io.run_all()
    output, log = pool.read_output("j-1", 0, 7), pool.read_log("j-1", 8, 100)
    assert not output.called and not log.called
    io.run_all()
    assert outcome(output)["text"] == "records" and outcome(log)["text"] == "done\n"
    jd.output.unlink()  # removed by hand
    gone = pool.read_output("j-1", 0, 7)
    io.run_all()
    assert outcome(gone).check(NoOutput)
