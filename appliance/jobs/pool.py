"""The server's job pool: a queue, N concurrent worker subprocesses, timeouts, cancellation.

Lives on the reactor thread and never waits on a job. Each job runs in
`appliance _job-worker` (worker.py), started with `reactor.spawnProcess`, its
stdout and stderr going to the job's log. Cancelling sends SIGTERM (the worker stops its mapper and
reducer processes and removes its temp files) and, after `grace` seconds,
SIGKILL to the worker's whole process group. A timeout is a cancel that ends
in state ``timed_out``. Finished jobs keep their output and log; the oldest
are removed beyond `keep`. After a server restart, queued jobs are queued
again and jobs that were running are marked failed.

File work runs on the `io` thread given (the server's "jobs-io"), in order,
never on the reactor thread: writing a new job's directory (its bundle may
hold 16 MiB), its state, removing its files, reading the jobs of earlier runs
and pages of a job's output or log. What stays on the reactor thread is
small and bounded: opening a starting job's log (the worker needs the fd),
reading a running job's progress.json and a finished one's result.json (a few
hundred bytes each; docs/architecture.md, "Reactor hygiene").

Jobs respect the free-space watermark of the server's disk guard: below it a
submission is refused (JobRefused, 507), a queued job fails instead of
starting, and running jobs are stopped (failed, with the guard's reason), so
a job's output can never take the space the spool needs.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IProcessTransport
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance.childproc import spawn_child
from appliance.disk import DiskGuard, is_no_space
from appliance.jobs.jobdir import JobDir, read_chunk
from appliance.jobs.record import JobRecord
from appliance.jobs.request import JobRequest, JobRequestError, parse_request
from appliance.jobs.states import FINISHED, JobState

if TYPE_CHECKING:
    from appliance.reactortype import IServiceReactor
    from appliance.storage.keys import SchemaSource

log = Logger()


__all__ = ["JobPool", "JobRecord", "JobRefused", "JobRequestError", "NoOutput", "UnknownJob"]


class UnknownJob(KeyError):
    """No job has this id."""

    def __str__(self) -> str:
        return f"no job {self.args[0]!r}"


class NoOutput(Exception):
    """The job has no output (yet): it has not succeeded."""


class JobRefused(Exception):
    """The job cannot be taken now: the disk is below the watermark, or is full."""


class _Worker(ProcessProtocol):
    def __init__(self, pool: JobPool, job_id: str):
        self.pool, self.job_id = pool, job_id
        self.ended: Deferred[None] = Deferred()

    def processEnded(self, reason: Failure) -> None:
        self.pool._ended(self.job_id, reason.value)
        self.ended.callback(None)


@dataclass
class _Running:
    """A running job's worker process and its timeout (None: no limit, or already fired)."""

    transport: IProcessTransport
    protocol: _Worker
    timeout: IDelayedCall | None


class JobPool:
    """Runs submitted jobs; see the module docstring. `argv` starts a worker (the server's
    own binary with the hidden subcommand); the job directory is appended."""

    def __init__(self, reactor: IServiceReactor, root: Path, argv: list[str], *,
                 max_running: int = 1, default_timeout: float | None = None, keep: int = 200,
                 grace: float = 5.0, schemas: SchemaSource = None,
                 env: dict[str, str] | None = None, disk: DiskGuard | None = None,
                 io: Callable[..., Deferred[Any]] | None = None):
        """`reactor` keeps time and starts processes. `io(f, *args)` runs blocking
        file work in order off the reactor thread (an IOThread); None runs it at once
        (tests with no threads)."""
        self.reactor = reactor
        self.root = root
        self.argv = argv
        self.max_running = max_running
        self.default_timeout = default_timeout
        self.keep = keep
        self.grace = grace
        self.schemas = schemas
        self.env = env
        self.disk = disk  # a DiskGuard, or None (no watermark)
        self._io = io or maybeDeferred
        if disk is not None:
            disk.watch(self._disk_checked)
        self._records: dict[str, JobRecord] = {}
        self._queue: deque[str] = deque()
        self._running: dict[str, _Running] = {}
        self._ending: dict[str, tuple[JobState, str]] = {}  # id -> (state, error) it ends in
        self._stopping = False

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Load the jobs of earlier runs (read on the io thread) and start what is queued."""
        return self._io(_saved_jobs, self.root).addCallback(self._restore)

    def _restore(self, saved_jobs: list[tuple[Path, dict[str, Any] | None]]) -> None:
        for path, saved in saved_jobs:
            jd = JobDir(path)
            if saved is None:  # a submission cut short by a crash
                self._io(shutil.rmtree, path, True)
                continue
            record = self._records[jd.id] = JobRecord.from_json(saved)
            if record.state is JobState.RUNNING:
                self._io(jd.remove_work)
                self._finish(jd.id, JobState.FAILED, "the server stopped while the job ran")
            if record.state is JobState.QUEUED:
                self._queue.append(jd.id)
        self._next()

    async def stop(self) -> None:
        """Cancel queued and running jobs and wait for their workers to end."""
        self._stopping = True
        await self._io(lambda: None)  # submissions being stored are queued, then cancelled
        for job_id in list(self._queue):
            self.cancel(job_id)
        ended = [running.protocol.ended for running in self._running.values()]
        for job_id in list(self._running):
            self._ending[job_id] = (JobState.FAILED, "the server stopped while it ran")
            self._terminate(job_id)
        for d in ended:
            await d
        await self._io(lambda: None)  # the file work queued so far is done

    # -- the API -------------------------------------------------------------------------

    def submit(self, obj: Any) -> Deferred[JobRecord]:
        """Check a job, store its directory on the io thread, then queue it.

        The checks that need no disk answer at once: a bad request raises JobRequestError,
        a disk below the watermark raises JobRefused. The Deferred fires with the queued
        job's record, or fails with JobRefused (no space to store it) or the OSError that
        stopped the write; a submission that cannot be stored leaves nothing behind."""
        request = parse_request(obj, self.schemas, self.default_timeout)
        low = self._disk_low()
        if low:
            raise JobRefused(f"not accepting jobs while {low}")
        now = self.reactor.seconds()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
        job_id = f"j-{stamp}-{secrets.token_hex(3)}"
        record = JobRecord(id=job_id, name=request.name, state=JobState.QUEUED,
                           submitted_at=now, options=request.options())
        # The io thread runs its work in order, so jobs are queued in the order submitted.
        stored = self._io(_store, JobDir(self.root / job_id), request, record.to_json())
        return stored.addCallback(lambda _: self._queued(record))

    def _queued(self, record: JobRecord) -> JobRecord:
        self._records[record.id] = record
        self._queue.append(record.id)
        log.info("job {id} ({name}) queued", id=record.id, name=record.name)
        self._prune()
        if not self._stopping:  # stop() cancels it with the other queued jobs
            self._next()
        return self.get(record.id)

    def list(self) -> list[JobRecord]:
        """Every job, newest first."""
        return [self.get(i) for i in sorted(self._records, reverse=True,
                                            key=lambda i: (self._records[i].submitted_at, i))]

    def get(self, job_id: str) -> JobRecord:
        """A copy of a job's record with its progress, summary and output size (read from the
        job's directory only while it runs: the dashboard asks for every job every second)."""
        record = self._record(job_id)
        if record.state is not JobState.RUNNING:
            return replace(record)
        jd = JobDir(self.root / job_id)
        return replace(record, progress=jd.read(jd.progress) or {"phase": "listing"})

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or running job (a finished one is left as it is)."""
        record = self._record(job_id)
        if record.state is JobState.QUEUED:
            self._queue.remove(job_id)
            self._finish(job_id, JobState.CANCELLED, "cancelled before it started")
        elif record.state is JobState.RUNNING and job_id not in self._ending:
            self._ending[job_id] = (JobState.CANCELLED, "cancelled")
            self._terminate(job_id)
        return self.get(job_id)

    def read_output(self, job_id: str, offset: int, limit: int) -> Deferred[dict[str, Any]]:
        """A page of a succeeded job's output, read on the io thread. Raises UnknownJob, and
        NoOutput (also as the Deferred's failure, if its file is gone)."""
        record = self._record(job_id)
        if record.state is not JobState.SUCCEEDED:
            raise NoOutput(f"job {job_id} is {record.state}: no output")
        return self._io(_output_page, JobDir(self.root / job_id).output, offset, limit, job_id)

    def read_log(self, job_id: str, offset: int, limit: int) -> Deferred[dict[str, Any]]:
        """A page of a job's log (what its worker printed), read on the io thread."""
        self._record(job_id)
        return self._io(read_chunk, JobDir(self.root / job_id).log, offset, limit)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        counts = dict.fromkeys(JobState, 0)
        for record in self._records.values():
            counts[record.state] += 1
        return {state.value: n for state, n in counts.items()}

    # -- running -------------------------------------------------------------------------

    def _record(self, job_id: str) -> JobRecord:
        try:
            return self._records[job_id]
        except (KeyError, TypeError):
            raise UnknownJob(job_id) from None

    def _next(self) -> None:
        while self._queue and len(self._running) < self.max_running:
            self._launch(self._queue.popleft())

    def _disk_low(self) -> str | None:
        return self.disk.low if self.disk is not None else None

    def _disk_checked(self, guard: DiskGuard) -> None:
        """Below the watermark, stop the running jobs: their files must not take the
        space the spool needs."""
        if not guard.low:
            return
        for job_id in list(self._running):
            if job_id not in self._ending:
                self._ending[job_id] = (JobState.FAILED, f"stopped: {guard.low}")
                self._terminate(job_id)

    def _launch(self, job_id: str) -> None:
        jd = JobDir(self.root / job_id)
        record = self._records[job_id]
        low = self._disk_low()
        if low:
            self._finish(job_id, JobState.FAILED, f"not started: {low}")
            return
        protocol = _Worker(self, job_id)
        try:
            log_fd = os.open(jd.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                             0o644)
        except OSError as e:
            self._finish(job_id, JobState.FAILED, f"cannot create the job's log: {e}")
            return
        try:
            argv = [*self.argv, str(jd.root)]
            transport = spawn_child(
                self.reactor, protocol, argv,
                env=self.env if self.env is not None else os.environ,
                child_fds={0: "w", 1: log_fd, 2: log_fd})
        except OSError as e:
            self._finish(job_id, JobState.FAILED, f"cannot start the job worker: {e}")
            return
        finally:
            os.close(log_fd)
        call = (self.reactor.callLater(record.timeout, self._timed_out, job_id)
                if record.timeout is not None else None)
        self._running[job_id] = _Running(transport, protocol, call)
        record.state, record.started_at = JobState.RUNNING, self.reactor.seconds()
        self._save(jd, record)
        log.info("job {id} running (worker pid {pid})", id=job_id, pid=transport.pid)

    def _timed_out(self, job_id: str) -> None:
        if job_id in self._running and job_id not in self._ending:
            timeout = self._records[job_id].timeout
            self._ending[job_id] = (JobState.TIMED_OUT, f"timed out after {timeout} s")
            self._running[job_id].timeout = None
            self._terminate(job_id)

    def _terminate(self, job_id: str) -> None:
        transport = self._running[job_id].transport
        pid = transport.pid
        if pid is None:
            return
        try:
            transport.signalProcess("TERM")
        except Exception:  # already gone: processEnded follows
            return
        self.reactor.callLater(self.grace, self._kill_group, job_id, pid)

    def _kill_group(self, job_id: str, pid: int) -> None:
        if job_id in self._running:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _ended(self, job_id: str, reason: BaseException) -> None:
        call = self._running.pop(job_id).timeout
        if call is not None and call.active():
            call.cancel()
        jd = JobDir(self.root / job_id)
        result = jd.read(jd.result) or {}
        ending = self._ending.pop(job_id, None)
        error: str | None
        if ending is not None:
            state, error = ending
        elif result.get("state") in FINISHED:
            state, error = JobState(result["state"]), result.get("error")
        else:
            code = getattr(reason, "exitCode", None)
            sig = getattr(reason, "signal", None)
            how = f"signal {sig}" if sig else f"exit code {code}"
            state, error = JobState.FAILED, f"the job worker ended with {how} without a result"
            low = self._disk_low()
            if low:  # it could not even write its result: most likely why it ended
                error += f" ({low})"
        if state is not JobState.SUCCEEDED:  # a partial output may be large
            self._io(jd.output.unlink, True)
        self._io(jd.remove_work)
        self._finish(job_id, state, error)
        self._next()

    def _finish(self, job_id: str, state: JobState, error: str | None) -> None:
        """Record the end of a job, with its last progress, summary and output size."""
        record = self._records[job_id]
        jd = JobDir(self.root / job_id)
        output_bytes = None
        if state is JobState.SUCCEEDED:  # only a succeeded job's output is kept
            with contextlib.suppress(FileNotFoundError):
                output_bytes = jd.output.stat().st_size
        record.state, record.finished_at, record.error = state, self.reactor.seconds(), error
        record.progress = dict(jd.read(jd.progress) or {}, phase="done")
        result = jd.read(jd.result) or {}
        record.summary = result.get("summary")
        record.warning = result.get("warning") if state == JobState.SUCCEEDED else None
        record.output_bytes = output_bytes
        self._save(jd, record)
        log.info("job {id} {state}{detail}", id=job_id, state=state,
                 detail=f": {error.splitlines()[0]}"
                 if error and state is not JobState.CANCELLED else "")

    def _save(self, jd: JobDir, record: JobRecord) -> None:
        """Write a job's record (on the io thread); on a full disk the record in memory stays
        right (the file catches up at the next write), and the reactor carries on."""
        def failed(failure: Failure) -> None:
            failure.trap(OSError)
            log.warn("cannot save job {id}'s state: {error}", id=jd.id,
                     error=str(failure.value))

        self._io(jd.write, jd.state, record.to_json()).addErrback(failed)

    def _prune(self) -> None:
        finished = sorted((r.submitted_at, i) for i, r in self._records.items()
                          if r.state in FINISHED)
        for _, job_id in finished[:max(0, len(finished) - self.keep)]:
            del self._records[job_id]
            self._io(shutil.rmtree, self.root / job_id, True)


def _output_page(path: Path, offset: int, limit: int, job_id: str) -> dict[str, Any]:
    if not path.exists():  # removed by hand
        raise NoOutput(f"job {job_id} is {JobState.SUCCEEDED}: no output")
    return read_chunk(path, offset, limit)


def _saved_jobs(root: Path) -> list[tuple[Path, dict[str, Any] | None]]:
    """Each job directory under `root`, oldest first, with its saved state (None: the
    submission was cut short by a crash). On the io thread: `keep` jobs take ~20 ms."""
    root.mkdir(parents=True, exist_ok=True)
    return [(path, JobDir.read(JobDir(path).state))
            for path in sorted(p for p in root.iterdir() if p.is_dir())]


def _store(jd: JobDir, request: JobRequest, state: dict[str, Any]) -> None:
    """Write a new job's directory and its first state (on the io thread); on an error,
    remove what was written."""
    try:
        jd.create(request)
        jd.write(jd.state, state)
    except OSError as e:
        shutil.rmtree(jd.root, ignore_errors=True)
        if is_no_space(e):
            raise JobRefused(f"no space to store the job: {e}") from None
        raise
