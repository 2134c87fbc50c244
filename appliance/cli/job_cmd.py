"""`appliance job run`: run a MapReduce job script over the local store (docs/mapreduce.md)."""

from __future__ import annotations

import argparse
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
                     help="a store directory other than the data dir's (read alone, without S3)")
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
    where = run.add_mutually_exclusive_group()
    where.add_argument("--local-only", action="store_true",
                       help="read only the local store (the default without [export] bucket)")
    where.add_argument("--remote-only", action="store_true",
                       help="read only the files exported to S3 ([export] bucket and prefix)")
    run.add_argument("--cache-dir", type=Path, metavar="DIR",
                     help="where S3 objects are cached (default <data_dir>/cache/s3)")
    run.add_argument("--cache-bytes", type=_size, default=None, metavar="BYTES",
                     help="bound of the S3 cache, e.g. 10G (default 10 GiB)")
    run.set_defaults(run=run_job)


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
    use_local, use_remote = _sources(args, config)
    if use_local and not root.is_dir() and not use_remote:
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
    inputs = select_inputs(root, flt, schemas) if use_local and root.is_dir() else []
    if use_remote:
        inputs = sorted(inputs + _remote_inputs(args, config, flt, schemas, root, inputs, err))
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


def _sources(args, config) -> tuple[bool, bool]:
    """(local store?, S3?): --local-only, --remote-only, else both if a bucket is set.

    An explicit --store (another store than the data dir's) is read alone: its
    files are not the ones exported under [export] prefix.
    """
    bucket = config.export.bucket
    if getattr(args, "remote_only", False):
        if not bucket:
            raise CommandError("--remote-only needs [export] bucket (and prefix, endpoint_url "
                               "if any) in the configuration; see docs/export.md")
        return False, True
    if getattr(args, "local_only", False) or not bucket or getattr(args, "store", None):
        return True, False
    return True, True


def _remote_inputs(args, config, flt, schemas, root, local, err) -> list:
    """The S3 inputs, minus the keys the local store holds, downloaded into the cache."""
    from botocore.exceptions import BotoCoreError, ClientError

    from appliance.config import ConfigError
    from appliance.export.factory import build_uploader
    from appliance.mr.remote import DEFAULT_CACHE_BYTES, RemoteError, select_remote_inputs

    try:
        client = build_uploader(config).client
    except ConfigError as e:
        raise CommandError(str(e)) from None
    export = config.export
    cache_dir = getattr(args, "cache_dir", None) or config.data_dir / "cache" / "s3"
    max_bytes = getattr(args, "cache_bytes", None)
    max_bytes = DEFAULT_CACHE_BYTES if max_bytes is None else max_bytes
    local_keys = {Path(f.path).relative_to(root).as_posix() for f in local}
    stats: dict = {}
    try:
        remote = select_remote_inputs(client, export.bucket, export.prefix, flt, schemas,
                                      cache_dir, exclude_keys=local_keys,
                                      max_cache_bytes=max_bytes,
                                      workers=max(4, export.concurrency),
                                      part_size=export.part_size, stats=stats)
    except (BotoCoreError, ClientError, RemoteError, OSError) as e:
        raise CommandError(f"S3 inputs from s3://{export.bucket}/{export.prefix}: "
                           f"{type(e).__name__}: {e}") from None
    print(f"s3: {stats['listed']} objects selected, {stats['excluded']} also local (local "
          f"copy used), {stats['reused']} from the cache, {stats['downloaded']} downloaded "
          f"({stats['downloaded_bytes']} bytes), {stats['evicted']} evicted"
          + (f", {stats['size_only']} verified by size only" if stats["size_only"] else ""),
          file=err, flush=True)
    return remote
