"""The job pool's file work (state writes, removing work dirs) runs on its io thread, in
order, and stop() waits for it; here the "thread" is a queue the test runs by hand."""

from __future__ import annotations

import json

from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessDone
from twisted.python.failure import Failure

from appliance.jobs.jobdir import JobDir
from appliance.jobs.pool import JobPool
from appliance.jobs.states import JobState
from tests.unit.test_job_pool import ProcessReactor

SCRIPT = "def map(k, d, v, c): pass\n"


class QueuedIO:
    """An io runner whose calls wait until `run_all`."""

    def __init__(self):
        self.queue: list[tuple] = []

    def __call__(self, f, *args) -> Deferred:
        d = Deferred()
        self.queue.append((d, f, args))
        return d

    def run_all(self) -> None:
        while self.queue:
            d, f, args = self.queue.pop(0)
            d.callback(f(*args))


def test_a_finished_jobs_files_are_handled_off_the_reactor_thread_in_order(tmp_path):
    reactor, io = ProcessReactor(), QueuedIO()
    pool = JobPool(reactor, tmp_path / "jobs", ["appliance", "_job-worker"], io=io)
    pool.start()
    job = pool.submit({"script": SCRIPT, "name": "t.py"})
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
    first = pool.submit({"script": SCRIPT, "name": "a.py"})
    pool.cancel(first.id)  # running: SIGTERM ...
    [(protocol, _)] = reactor.spawned
    protocol.processEnded(Failure(ProcessDone(0)))  # ... and it ended: cancelled
    io.run_all()
    pool.submit({"script": SCRIPT, "name": "b.py"})  # prunes the finished one (keep=0)
    assert first.id not in [j.id for j in pool.list()]
    assert (tmp_path / "jobs" / first.id).exists()
    io.run_all()
    assert not (tmp_path / "jobs" / first.id).exists()
