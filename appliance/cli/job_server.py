"""`appliance job submit|list|status|cancel|output|log`: jobs in a running server.

They talk to the server's admin API (docs/admin-api.md); the job itself runs
in the server's job pool, so it keeps running after the command returns
(unless `submit --wait`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

from appliance.cli import job_files
from appliance.cli.common import CommandError, Subparsers, admin_client, admin_options
from appliance.config import Config
from appliance.jobs.record import JobRecord
from appliance.jobs.request import JobRequest
from appliance.jobs.states import ACTIVE, JobState
from appliance.mr.runner import NO_INPUTS, describe_sources

_Result = TypeVar("_Result")


def add_parsers(actions: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add the server-side job actions to `appliance job`."""
    parents = [common, admin_options()]
    p = actions.add_parser("submit", parents=parents, help="queue a job in the running server",
                           description="Send SCRIPT (and a filter) to the running server, "
                                       "which runs it in its job pool; prints the job id.")
    p.add_argument("script", type=Path, metavar="SCRIPT",
                   help="the job script (.py), or a job directory or zip (sent whole)")
    p.add_argument("-f", "--filter", "--input-filter", type=Path, metavar="FILTER.json",
                   help="a filter in the schema format (default: the job's filter.json, "
                        "else every valid partition)")
    job_files.add_options(p, local=False)
    p.add_argument("-m", "--mappers", "--num-mappers", type=int, default=2, metavar="N",
                   help="mapper processes (default 2)")
    p.add_argument("-r", "--reducers", "--num-reducers", type=int, default=1, metavar="M",
                   help="reducer processes (default 1)")
    p.add_argument("--max-errors", type=int, default=0, metavar="N",
                   help="skip up to N records on which map raises other than ValueError "
                        "(default 0: stop); a ValueError skips the record as a bad line")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="cancel the job after this long (default: [jobs] timeout)")
    p.add_argument("--dedupe", action="store_true",
                   help="keep only the last submission per docId (docs/mapreduce.md)")
    p.add_argument("--runner", choices=("local", "dask"),
                   help="run on this node (local) or on a Dask cluster (dask) "
                        "(default: the server's [jobs] runner)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="the Dask scheduler (default: the server's [jobs] scheduler)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("-l", "--local-only", action="store_true", help="store and spool only")
    where.add_argument("--remote-only", action="store_true", help="S3 only")
    p.add_argument("--wait", action="store_true",
                   help="wait for the job to end; exit 1 unless it succeeded, 3 if it "
                        "read no input records")
    p.set_defaults(run=submit)

    p = actions.add_parser("list", parents=parents, help="jobs of the running server")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=list_jobs)
    for name, run, text in (("status", status, "a job's state, progress and summary"),
                            ("cancel", cancel, "cancel a queued or running job")):
        p = actions.add_parser(name, parents=parents, help=text)
        p.add_argument("job_id", metavar="JOB")
        p.add_argument("--json", action="store_true", help="the job record as JSON")
        p.set_defaults(run=run)
    for name, text in (("output", "a succeeded job's output"), ("log", "a job's log")):
        p = actions.add_parser(name, parents=parents, help=text)
        p.add_argument("job_id", metavar="JOB")
        p.add_argument("--output", type=Path, metavar="FILE",
                       help="write to FILE instead of stdout")
        p.set_defaults(run=fetch, what=name)


def _call(fn: Callable[..., _Result], *args: object) -> _Result:
    from appliance.admin.client import AdminError

    try:
        return fn(*args)
    except AdminError as e:
        raise CommandError(e.message if e.status == 0 else f"{e.message} (HTTP {e.status})") \
            from None


def submit(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    request = JobRequest(**job_files.submitted_job(args),
                         mappers=args.mappers, reducers=args.reducers,
                         max_errors=args.max_errors, dedupe=args.dedupe,
                         inputs="remote" if args.remote_only else
                                "local" if args.local_only else "all",
                         timeout=args.timeout, runner=args.runner or "",
                         scheduler=args.scheduler or "")
    client = admin_client(args, config)
    job = JobRecord.from_json(_call(client.submit_job, request.submission()))
    out.write(f"{job.id}\n")
    out.flush()
    if not args.wait:
        return 0
    while job.state in ACTIVE:
        time.sleep(0.5)  # polling a remote server: there is no event to wait on
        job = JobRecord.from_json(_call(client.job, job.id))
    out.write(describe(job))
    if job.state is not JobState.SUCCEEDED:
        return 1
    return NO_INPUTS if job.warning else 0


def describe(job: JobRecord) -> str:
    """A job record as a few lines of text."""
    lines = [f"job {job.id} ({job.name}): {job.state}"]
    p = job.progress
    if job.state is JobState.RUNNING:
        lines.append(f"  {p.get('phase')}: {p.get('files_done') or 0}/{p.get('files_total') or 0}"
                     f" files, {p.get('records') or 0} records")
    s = job.summary
    if s:
        lines.append(f"  input: {s['input_files']} files, {s['records']} records; output: "
                     f"{s['output_records']} records, {s['output_bytes']} bytes; "
                     f"{s['errors']} skipped; {s['elapsed']:.2f} s")
        if s.get("sources"):
            lines.append(f"  sources: {describe_sources(s['sources'])}")
    if job.error and job.state is not JobState.SUCCEEDED:
        lines.append("  " + job.error.replace("\n", "\n  "))
    if job.warning:
        lines.append(f"  warning: {job.warning}")
    return "\n".join(lines) + "\n"


def list_jobs(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    jobs = _call(admin_client(args, config).jobs)
    if args.json:
        for job in jobs:
            out.write(json.dumps(job) + "\n")
        return 0
    if not jobs:
        out.write("no jobs\n")
        return 0
    records = [JobRecord.from_json(job) for job in jobs]
    rows = [(job.id, job.state.value,
             time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(job.submitted_at)),
             str(job.progress.get("records") or 0), job.name)
            for job in records]
    header = ("JOB", "STATE", "SUBMITTED", "RECORDS", "NAME")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [row[i].rjust(widths[i]) if i == 3 else row[i].ljust(widths[i])
                 for i in range(4)]
        out.write("  ".join(cells) + "  " + row[4] + "\n")
    return 0


def status(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    job = _call(admin_client(args, config).job, args.job_id)
    out.write(json.dumps(job, indent=1) + "\n" if args.json
              else describe(JobRecord.from_json(job)))
    return 0


CANCEL_WAIT = 15.0  # the pool's SIGTERM, then SIGKILL 5 s later, and a margin


def cancel(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    """Cancel, then wait (bounded) until the job has stopped, so the state shown is the end."""
    client = admin_client(args, config)
    answer = _call(client.cancel_job, args.job_id)
    job = JobRecord.from_json(answer)
    if job.state not in ACTIVE and job.state is not JobState.CANCELLED and not args.json:
        out.write(f"job {job.id} ({job.name}) already finished ({job.state}): "
                  f"nothing to cancel\n")
        return 0
    deadline = time.monotonic() + CANCEL_WAIT
    while job.state in ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)  # polling a remote server: there is no event to wait on
        answer = _call(client.job, args.job_id)
        job = JobRecord.from_json(answer)
    if args.json:
        out.write(json.dumps(answer, indent=1) + "\n")
    elif job.state in ACTIVE:
        out.write(f"job {job.id} ({job.name}): cancel requested, still {job.state} "
                  f"after {CANCEL_WAIT:g} s; `appliance job status {job.id}` shows when it "
                  f"ends\n")
    else:
        out.write(describe(job))
    return 0


def fetch(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    client = admin_client(args, config)
    page = client.job_output if args.what == "output" else client.job_log
    target = open(args.output, "w", encoding="utf-8") if args.output else out  # noqa: SIM115
    try:
        offset = 0
        while True:
            chunk = _call(page, args.job_id, offset, 1 << 20)
            target.write(chunk["text"])
            if chunk["eof"] or chunk["next_offset"] == offset:
                break
            offset = chunk["next_offset"]
    finally:
        if target is not out:
            target.close()
    return 0


def run_worker(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    """The hidden `_job-worker JOBDIR` subcommand (started by the server's job pool)."""
    from appliance.jobs.worker import run_worker as work

    return work(Path(args.job_dir), config, sys.stdout)
