"""The 2013 job command line (`python -m mapreduce.job`) on `appliance job run`.

A 2013 ``run.sh`` runs with ``appliance job run`` in its place: the 2013
flags are aliases of ours (`-f/--input-filter`, `-m/--num-mappers`,
`-r/--num-reducers`, `-o/--output`, `-w/--work-dir`, `-l/--local-only`, in
job_cmd.py) or are added here with their 2013 meaning (docs/mapreduce.md,
"The 2013 command line").

`-d/--data-dir DIR` meant "the base directory of the local input files" in
2013. Here it is the appliance data dir when DIR is one (it holds `node.json`,
`spool/` or `store/`); any other existing directory is read the 2013 way, as a
tree of input files (like `--store`, plus S3 with a bucket). A DIR that does
not exist is an error and is never created.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli.common import CommandError

DEFAULT_MAPPERS = 4  # 2013's default; mappers beyond the number of input files do not start
DATA_DIR_MARKS = ("node.json", "spool", "store")


def add_flags(run: argparse.ArgumentParser) -> None:
    """The 2013 flags that are not aliases of `job run`'s own."""
    run.add_argument("-b", "--bucket", metavar="BUCKET",
                     help="S3 bucket of the inputs (overrides [export] bucket)")
    run.add_argument("-k", "--aws-key", metavar="KEY",
                     help="S3 access key id (overrides [export] access_key_id)")
    run.add_argument("-s", "--aws-secret-key", metavar="SECRET",
                     help="S3 secret key (overrides [export] secret_access_key)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="also list the input files on stderr")
    run.add_argument("-X", "--delete-data", action="store_true",
                     help="accepted for 2013 command lines; input data is never deleted")
    run.add_argument("-p", "--profile", action="store_true",
                     help="profile each mapper with cProfile; the stats go next to the "
                          "output as OUT.profile/mapper-N.prof (local runner)")


def config_overrides(args: argparse.Namespace) -> dict[tuple[str, str], object]:
    """The configuration the 2013 flags set: S3 bucket and keys, and the data dir unless
    `--data-dir` names a 2013 input directory."""
    named = Path(args.data_dir).expanduser() if args.data_dir is not None else None
    is_input_dir = named is not None and named.is_dir() and not is_data_dir(named)
    return {("server", "data_dir"): None if is_input_dir else args.data_dir,
            ("export", "bucket"): args.bucket,
            ("export", "access_key_id"): args.aws_key,
            ("export", "secret_access_key"): args.aws_secret_key}


def is_data_dir(path: Path) -> bool:
    """True if `path` looks like an appliance data dir (a server's or a converter's)."""
    return any((path / mark).exists() for mark in DATA_DIR_MARKS)


def input_dir(args: argparse.Namespace) -> Path | None:
    """The 2013 meaning of `--data-dir`: the directory of input files, or None when the
    option names an appliance data dir (or is not given). CommandError if it is missing."""
    if args.data_dir is None:
        return None
    path = Path(args.data_dir).expanduser()
    if not path.is_dir():
        raise CommandError(f"--data-dir {args.data_dir}: no such directory (an appliance data "
                           f"dir, or in 2013 style the directory of input files); "
                           f"not created")
    return None if is_data_dir(path) else path.resolve()


def require_data_dir(path: Path) -> None:
    """CommandError unless `path` is an appliance data dir: a job never creates one."""
    if not path.is_dir() or not is_data_dir(path):
        raise CommandError(f"{path} is not an appliance data dir (it has no node.json, spool/ "
                           f"or store/): give a server's data dir with --data-dir, --config "
                           f"or APPLIANCE_SERVER_DATA_DIR, or a store tree with --store")


def notes(args: argparse.Namespace, directory: Path | None) -> list[str]:
    """One line for each 2013 flag that means something else here."""
    out = []
    if directory is not None:
        out.append(f"--data-dir {args.data_dir}: not an appliance data dir, so read as in "
                   f"2013: the directory of input files (the appliance data dir is the one "
                   f"of --config or APPLIANCE_SERVER_DATA_DIR)")
    if args.delete_data:
        out.append("--delete-data: ignored; a job never deletes input data here")
    if args.profile and getattr(args, "runner", "local") == "dask":
        out.append("--profile: ignored with --runner dask (it profiles local mappers)")
    return out
