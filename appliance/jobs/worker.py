"""`appliance _job-worker JOBDIR`: run one submitted job, report through its directory.

Started by the pool (pool.py) as a subprocess of the server, so analyst code
never runs in the server process. It becomes a process group leader (the
pool can kill it and its mapper/reducer processes together), cancels its run
on SIGTERM (workers stopped, temp files removed), writes `progress.json`
while it runs and `result.json` at the end; stdout and stderr are the job's
log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from appliance.config import Config
from appliance.disk import is_no_space
from appliance.jobs.jobdir import JobDir
from appliance.jobs.request import JobRequest
from appliance.jobs.states import JobState
from appliance.lifecycle import call_on_signals, die_with_parent
from appliance.mr import JobCancelled, JobError, LocalRunner
from appliance.mr.plan import InputError, choose_sources, plan_inputs
from appliance.mr.progress import Progress, ProgressCallback, throttle
from appliance.mr.py2.port import PortError, port_job
from appliance.mr.pythonpath import add_site_dirs, python_path
from appliance.storage.factory import schema_registry
from appliance.storage.filters import Filter

if TYPE_CHECKING:  # imported where it runs: Dask is optional
    from appliance.mr.dask_runner import DaskRunner

PROGRESS_INTERVAL = 0.5


def progress_writer(jd: JobDir, bytes_total: int) -> ProgressCallback:
    """A runner's progress callback that keeps `progress.json` current (throttled): the
    `Progress` and the input's size, `bytes_total`."""

    def write(progress: Progress) -> None:
        jd.write(jd.progress, asdict(progress) | {"bytes_total": bytes_total})

    return throttle(write, PROGRESS_INTERVAL)


def choose_runner(request: JobRequest, config: Config) -> tuple[str, str]:
    """(runner, scheduler) of a job: the request's, else the server's [jobs] settings;
    `JobError` when the Dask runner has no scheduler or Dask is not installed."""
    kind = request.runner or config.jobs.runner
    scheduler = request.scheduler or config.jobs.scheduler
    if kind != "dask":
        return kind, ""
    if not scheduler:
        raise JobError("the dask runner needs a scheduler: [jobs] scheduler in the server's "
                       "configuration, or one in the submission (--scheduler)")
    try:  # the optional dask extra: only a Dask job needs it
        import cloudpickle  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise JobError("the dask runner needs Dask on the server: install appliance[dask] "
                       "(dask[distributed] and cloudpickle)") from None
    return kind, scheduler


def run_worker(root: Path, config: Config, out: TextIO = sys.stdout) -> int:
    """Run the job in `root`; returns 0 when it ran (whatever its outcome went to result.json)."""

    os.setpgrp()
    die_with_parent()
    jd = JobDir(root)
    request = jd.read_request()
    schemas = schema_registry(config)
    flt = (Filter.from_dict(request.filter, schemas) if request.filter is not None
           else Filter.all_records(schemas))
    runner: LocalRunner | DaskRunner | None = None
    cancelled: list[int] = []

    def on_term(signum: int) -> None:
        cancelled.append(signum)
        if runner is not None:
            runner.cancel()

    call_on_signals(on_term, frozenset({signal.SIGTERM}))
    started = time.monotonic()
    inputs = None
    try:
        script = _prepare(jd, request, config, out)
        kind, scheduler = choose_runner(request, config)
        local, remote = choose_sources(request.inputs, config)
        jd.write(jd.progress, {"phase": "listing"})
        inputs = plan_inputs(config, flt, schemas, local=local, remote=remote,
                             tmp_dir=jd.work, download=kind == "local")
        for note in inputs.notes:
            print(note, file=out, flush=True)
        write_progress = progress_writer(jd, sum(f.size for f in inputs.files))
        options: dict[str, Any] = dict(
            reducers=request.reducers, max_errors=request.max_errors, progress=write_progress,
            config=config, schemas=schemas, spool_filter=flt, dedupe=request.dedupe)
        if kind == "dask":
            from appliance.mr.dask_runner import DaskRunner  # needs the optional dask extra

            print(f"runner: dask, scheduler {scheduler}", file=out, flush=True)
            runner = DaskRunner(script, inputs.files, jd.output, scheduler=scheduler,
                                mappers=request.mappers, **options)
        else:
            runner = LocalRunner(script, inputs.files, jd.output, mappers=request.mappers,
                                 work_dir=jd.work, **options)
        if cancelled:
            runner.cancel()
        summary = runner.run()
    except JobCancelled:
        jd.write(jd.result, {"state": JobState.CANCELLED, "error": "cancelled"})
        return 0
    except (JobError, InputError) as e:
        _failed(jd, str(e), out)
        return 0
    except OSError as e:
        if not is_no_space(e):
            raise
        _failed(jd, f"the disk is full: {e}; free space and run the job again", out)
        return 0
    finally:
        if inputs is not None:
            inputs.close()
        jd.remove_work()
    out.write(summary.report())
    out.write(f"worker: {time.monotonic() - started:.2f} s in all\n")
    warning = summary.warning()
    if warning:
        out.write(f"warning: {warning}\n")
    jd.write(jd.result, {"state": JobState.SUCCEEDED, "summary": summary.as_dict(),
                         "warning": warning})
    return 0


def _prepare(jd: JobDir, request: JobRequest, config: Config, out: TextIO) -> Path:
    """The script to run: the job's libraries on the python path ([jobs] python_path), and
    a Python 2 job (py2) ported into the work dir, with the port's notes in the log."""
    add_site_dirs(python_path(config))
    if not request.py2:
        return jd.script
    try:  # script/ holds the job's files alone: port them all
        script, ported = port_job(jd.script, jd.script.parent, jd.work / "py3")
    except PortError as e:
        raise JobError(f"--py2: {e}") from None
    for p in ported:
        print(f"py2: ported {p.name}", file=out, flush=True)
        for note in p.notes:
            print(f"py2: {p.name}: {note}", file=out, flush=True)
    return script


def _failed(jd: JobDir, error: str, out: TextIO) -> None:
    """Report a failed run in the log and result.json; on a full disk either may be
    impossible, and the pool then reports the worker's end with the guard's reason."""
    with contextlib.suppress(OSError):
        print(error, file=out, flush=True)
    with contextlib.suppress(OSError):
        jd.write(jd.result, {"state": JobState.FAILED, "error": error})
