"""`appliance job run`: run a MapReduce job script over the local store (docs/mapreduce.md)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from appliance.cli.common import CommandError, load_filter


def add_parser(sub, common) -> None:
    p = sub.add_parser("job", parents=[common], help="run MapReduce jobs",
                       description="Run MapReduce job scripts (the 2013 Telemetry job API) "
                                   "over the partitioned store.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", parents=[common], help="run a job in the foreground",
                             description="Run SCRIPT over the store files a filter selects "
                                         "with N mapper and M reducer processes; progress "
                                         "goes to stderr, a summary to stdout. The output "
                                         "is sorted, so it does not depend on N or M.")
    run.add_argument("script", type=Path, metavar="SCRIPT", help="the job script (.py)")
    run.add_argument("--filter", type=Path, required=True, metavar="FILTER.json",
                     help="a filter in the schema format (see docs/storage-keys.md)")
    run.add_argument("--output", type=Path, required=True, metavar="OUT",
                     help="the output file (written atomically)")
    run.add_argument("--store", type=Path, metavar="DIR",
                     help="a store directory other than the data dir's")
    run.add_argument("--mappers", type=int, default=None, metavar="N",
                     help="mapper processes (default 2); with --runner dask, map tasks "
                          "(default one per input file)")
    run.add_argument("--reducers", type=int, default=1, metavar="M", help="reducer processes")
    run.add_argument("--max-errors", type=int, default=0, metavar="N",
                     help="skip up to N records on which map raises (default 0: stop)")
    run.add_argument("--work-dir", type=Path, metavar="DIR",
                     help="where spill files go (default: next to the output)")
    run.add_argument("--runner", choices=("local", "dask"), default="local",
                     help="local processes (default) or a Dask cluster (needs --scheduler; "
                          "see docs/mapreduce.md)")
    run.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                     help="the Dask scheduler address (with --runner dask)")
    run.set_defaults(run=run_job)


def _progress_printer(err, interval: float = 1.0):
    last = [0.0]

    def show(info: dict) -> None:
        now = time.monotonic()
        if info["phase"] == "map" and info["files_done"] < info["files_total"] \
                and now - last[0] < interval:
            return
        last[0] = now
        line = (f"{info['phase']}: {info['files_done']}/{info['files_total']} files, "
                f"{info['records']} records, {info['bytes']} bytes")
        if info.get("errors"):
            line += f", {info['errors']} errors"
        if info["phase"] == "reduce":
            line += f", reducers {info['reducers_done']}/{info['reducers_total']}"
        print(line, file=err, flush=True)

    return show


def run_job(args, config, out, err=None) -> int:
    from appliance.mr import JobCancelled, JobError, LocalRunner, select_inputs

    err = err or sys.stderr
    if (args.mappers is not None and args.mappers < 1) or args.reducers < 1 \
            or args.max_errors < 0:
        raise CommandError("--mappers and --reducers must be at least 1, --max-errors >= 0")
    flt, schemas = load_filter(args.filter, config)
    root = args.store or config.data_dir / "store"
    if not root.is_dir():
        raise CommandError(f"no store at {root}")
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
    inputs = select_inputs(root, flt, schemas)
    if runner_kind == "dask":
        from appliance.mr.dask_runner import DaskRunner

        runner = DaskRunner(args.script, inputs, args.output, scheduler=args.scheduler,
                            mappers=args.mappers, reducers=args.reducers,
                            max_errors=args.max_errors, progress=_progress_printer(err))
    else:
        runner = LocalRunner(args.script, inputs, args.output, mappers=args.mappers or 2,
                             reducers=args.reducers, max_errors=args.max_errors,
                             work_dir=args.work_dir, progress=_progress_printer(err))
    try:
        s = runner.run()
    except JobCancelled as e:
        raise CommandError(str(e)) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted; workers stopped and temp files removed") from None
    except JobError as e:
        raise CommandError(str(e)) from None
    rate = s.data_bytes / s.elapsed / 1e6 if s.elapsed else 0.0
    out.write(f"{s.output}: {s.output_records} records, {s.output_bytes} bytes\n"
              f"input: {s.input_files} files, {s.records} records, {s.input_bytes} bytes "
              f"({s.data_bytes} uncompressed, {rate:.1f} MB/s)\n"
              f"time: {s.elapsed:.2f} s with {s.mappers} mappers, {s.reducers} reducers; "
              f"{s.spills} spills\n"
              f"errors: {s.errors} records skipped\n")
    if s.first_error:
        out.write(f"first error: {s.first_error}\n")
    return 0
