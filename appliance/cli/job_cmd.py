"""`appliance job run`: run a MapReduce job script over the local store (docs/mapreduce.md)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from appliance.cli import job_2013, job_files, job_port, job_server
from appliance.cli.common import CommandError, Subparsers, common_options, load_filter
from appliance.cli.progress import job_progress
from appliance.config import Config
from appliance.selfcmd import JOB_WORKER

if TYPE_CHECKING:  # only for the annotation: the runners load when a job runs
    from appliance.mr import LocalRunner
    from appliance.mr.dask_runner import DaskRunner


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("job", parents=[common], help="run MapReduce jobs",
                       description="Run MapReduce job scripts (the 2013 Telemetry job API) "
                                   "over the partitioned store.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    run_common = common_options(
        "-d", data_dir_help="the appliance data dir (overrides [server] data_dir); any other "
                            "directory is read as in 2013: the directory of input files")
    run = actions.add_parser("run", parents=[run_common], help="run a job in the foreground",
                             description="Run SCRIPT over the store files a filter selects "
                                         "with N mapper and M reducer processes; progress "
                                         "goes to stderr, a summary to stdout. The output "
                                         "is sorted, so it does not depend on N or M.")
    run.add_argument("script", type=Path, metavar="SCRIPT",
                     help="the job script (.py), or a job directory or zip (job.py, helper "
                          "modules, filter.json)")
    run.add_argument("-f", "--filter", "--input-filter", type=Path, metavar="FILTER.json",
                     help="a filter in the schema format (see docs/storage-keys.md; default: "
                          "every valid partition, as for job submit)")
    run.add_argument("-o", "--output", type=Path, required=True, metavar="OUT",
                     help="the output file (written atomically)")
    run.add_argument("--store", type=Path, metavar="DIR",
                     help="a store directory other than the data dir's (read alone, without S3)")
    run.add_argument("-m", "--mappers", "--num-mappers", type=int, default=None, metavar="N",
                     help=f"mapper processes (default {job_2013.DEFAULT_MAPPERS}, as in 2013); "
                          f"with --runner dask, map tasks (default one per input file)")
    run.add_argument("-r", "--reducers", "--num-reducers", type=int, default=1, metavar="M",
                     help="reducer processes")
    run.add_argument("--max-errors", type=int, default=0, metavar="N",
                     help="skip up to N records on which map raises other than ValueError "
                          "(default 0: stop); a ValueError skips the record as a bad line")
    run.add_argument("-w", "--work-dir", type=Path, metavar="DIR",
                     help="where spill files go (default: next to the output)")
    run.add_argument("--runner", choices=("local", "dask"), default="local",
                     help="local processes (default) or a Dask cluster (needs --scheduler; "
                          "see docs/mapreduce.md)")
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="the Dask scheduler address (with --runner dask)")
    where = run.add_mutually_exclusive_group()
    where.add_argument("-l", "--local-only", action="store_true",
                       help="read only the local store and spool (the default without "
                            "[export] bucket)")
    where.add_argument("--remote-only", action="store_true",
                       help="read only the files exported to S3 ([export] bucket and prefix)")
    run.add_argument("--dedupe", action="store_true",
                     help="map only the last submission of each docId (docs/mapreduce.md, "
                          "\"Duplicates\"); costs a first pass over the inputs")
    run.add_argument("--no-spool", action="store_true",
                     help="leave out the records still in the spool (not converted yet)")
    run.add_argument("--cache-dir", type=Path, metavar="DIR",
                     help="where S3 objects are cached (default <data_dir>/cache/s3)")
    run.add_argument("--cache-bytes", type=_size, default=None, metavar="BYTES",
                     help="bound of the S3 cache, e.g. 10G (default 10 GiB)")
    job_2013.add_flags(run)
    job_files.add_options(run, local=True)
    run.set_defaults(run=run_job, config_overrides=job_2013.config_overrides)
    job_server.add_parsers(actions, common)
    job_port.add_parser(actions, common)

    worker = sub.add_parser(JOB_WORKER, parents=[common])  # no help: not listed
    worker.add_argument("job_dir")
    worker.set_defaults(run=job_server.run_worker)


def _size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in units else ""
    try:
        value = int(float(t[:len(t) - len(unit)]) * units[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500M, 10G)") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return value


def run_job(args: argparse.Namespace, config: Config, out: TextIO,
            err: TextIO | None = None) -> int:
    err = err or sys.stderr
    if (args.mappers is not None and args.mappers < 1) or args.reducers < 1 \
            or args.max_errors < 0:
        raise CommandError("--mappers and --reducers must be at least 1, --max-errors >= 0")
    input_dir = job_2013.input_dir(args)
    if input_dir is not None and args.store is not None:
        raise CommandError(f"--store and a 2013-style --data-dir {args.data_dir} both name "
                           f"the input files: give one")
    if input_dir is None and args.store is None:
        job_2013.require_data_dir(config.data_dir)
    scratch = Path(tempfile.mkdtemp(prefix=".appliance-job-",
                                    dir=args.work_dir or args.output.resolve().parent))
    try:
        script, filter_path = job_files.local_job(args, config, scratch, err)
        return _run(args, config, out, err, script, filter_path, input_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _run(args: argparse.Namespace, config: Config, out: TextIO, err: TextIO, script: Path,
         filter_path: Path | None,
         input_dir: Path | None) -> int:
    from appliance.mr import JobCancelled, JobError, LocalRunner
    from appliance.mr.plan import InputError, choose_sources, plan_dir_inputs, plan_inputs
    from appliance.mr.runner import NO_INPUTS

    flt, schemas = load_filter(filter_path, config)
    runner_kind = getattr(args, "runner", "local")
    if runner_kind == "dask" and not getattr(args, "scheduler", None):
        raise CommandError("--runner dask needs --scheduler tcp://HOST:PORT")
    if runner_kind == "dask":
        try:
            import cloudpickle  # noqa: F401
            import distributed  # noqa: F401
        except ImportError:
            raise CommandError("--runner dask needs Dask: install appliance[dask] "
                               "(dask[distributed] and cloudpickle)") from None
    mode = "remote" if args.remote_only else "local" if args.local_only else "all"
    try:
        use_local, use_remote = choose_sources(mode, config, args.store is not None)
        if input_dir is not None:
            inputs = plan_dir_inputs(config, flt, schemas, input_dir, local=use_local,
                                     remote=use_remote,
                                     cache_dir=args.cache_dir or (
                                         args.work_dir or args.output.parent) / "cache",
                                     cache_bytes=args.cache_bytes,
                                     download=runner_kind == "local")
        else:
            inputs = plan_inputs(config, flt, schemas, local=use_local, remote=use_remote,
                                 spool=not args.no_spool,
                                 store=args.store, cache_dir=args.cache_dir,
                                 cache_bytes=args.cache_bytes, download=runner_kind == "local")
    except InputError as e:
        raise CommandError(str(e)) from None
    stack = ExitStack()
    try:
        for note in job_2013.notes(args, input_dir) + inputs.notes:
            print(note, file=err, flush=True)
        if args.verbose:
            for f in inputs.files:
                print(f"input: {f.path} ({f.size} bytes)", file=err, flush=True)
        show = stack.enter_context(job_progress(err, sum(f.size for f in inputs.files)))
        runner: LocalRunner | DaskRunner
        if runner_kind == "dask":
            from appliance.mr.dask_runner import DaskRunner

            runner = DaskRunner(script, inputs.files, args.output,
                                scheduler=args.scheduler, mappers=args.mappers,
                                reducers=args.reducers, max_errors=args.max_errors,
                                progress=show, config=config, schemas=schemas,
                                spool_filter=flt, dedupe=args.dedupe)
        else:
            profile = Path(f"{args.output}.profile") if args.profile else None
            runner = LocalRunner(script, inputs.files, args.output,
                                 mappers=args.mappers or job_2013.DEFAULT_MAPPERS,
                                 reducers=args.reducers, max_errors=args.max_errors,
                                 work_dir=args.work_dir, progress=show, config=config,
                                 schemas=schemas, spool_filter=flt, dedupe=args.dedupe,
                                 profile_dir=profile)
        s = runner.run()
    except JobCancelled as e:
        raise CommandError(str(e)) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted; workers stopped and temp files removed") from None
    except JobError as e:
        raise CommandError(str(e)) from None
    finally:
        stack.close()
        inputs.close()
    out.write(s.report())
    if args.profile and runner_kind == "local":
        print(f"profile: one cProfile file per mapper in {profile} "
              f"(python -m pstats {profile}/mapper-0.prof)", file=err)
    warning = s.warning()
    if warning:
        print(f"appliance: warning: {warning}", file=err)
        return NO_INPUTS
    return 0
