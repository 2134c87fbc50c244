"""`appliance export` and `appliance s3 ls`: export by hand, and what S3 holds."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from appliance.cli.common import CommandError, Subparsers, load_filter
from appliance.cli.store_cmd import print_partitions
from appliance.config import Config

if TYPE_CHECKING:  # only for the annotation: boto3 (~0.2 s) loads for S3 commands only
    from appliance.export.uploader import Uploader
from appliance.datadir import DataDir
from appliance.storage.filenames import file_records


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "export", parents=[common], help="upload finished store files to S3 now, or show status",
        description="`appliance export --once` makes one pass over the data dir's finished "
                    "store files: each is uploaded (or found already there), verified, and "
                    "then deleted locally (or retained). Exit status 1 if any file failed; "
                    "failed files stay for the next pass. `appliance export status` shows the "
                    "local backlog and whether the bucket can be reached. Uses the [export] "
                    "configuration even when [export] enabled is false.")
    p.add_argument("action", nargs="?", choices=["status"], help="show the backlog and probe S3")
    p.add_argument("--once", action="store_true", help="one export pass, then exit")
    p.set_defaults(run=run_export)

    s3 = sub.add_parser("s3", parents=[common], help="inspect exported data in S3",
                        description="Inspect what the exporter put in S3.")
    actions = s3.add_subparsers(dest="s3_action", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", parents=[common], help="list exported partitions",
                            description="List exported partitions under [export] prefix with "
                                        "their object count, records and bytes.")
    ls.add_argument("--filter", type=Path, metavar="FILTER.json",
                    help="a filter in the schema format (see docs/storage-keys.md)")
    ls.add_argument("--json", action="store_true", help="one JSON object per partition")
    ls.set_defaults(run=run_s3_ls)


def _uploader(config: Config) -> Uploader:
    from appliance.export.factory import build_uploader

    uploader: Uploader = build_uploader(config)
    return uploader


def run_export(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.action == "status":
        return _status(config, out)
    if not args.once:
        raise CommandError("say what to do: `appliance export --once` or `appliance export "
                           "status` (the server exports continuously when [export] enabled)")
    from appliance.export.backlog import finished_files, ship
    from appliance.export.errors import describe

    uploader = _uploader(config)
    retained = DataDir(config.data_dir).exported if config.export.retain_days > 0 else None
    files = finished_files(DataDir(config.data_dir).store)
    failed = 0
    with ThreadPoolExecutor(config.export.concurrency) as pool:
        futures = [(f, pool.submit(ship, uploader, f, retained)) for f in files]
        for file, future in futures:
            try:
                result = future.result()
            except Exception as e:  # noqa: BLE001 - reported per file, the pass goes on
                failed += 1
                out.write(f"FAILED {file.key}: {describe(e)}\n")
                continue
            verb = "already in S3" if result.already_there else "uploaded"
            out.write(f"{verb} s3://{uploader.bucket}/{result.key} ({result.size} bytes)\n")
    out.write(f"export: {len(files) - failed} files exported, {failed} failed\n")
    return 1 if failed else 0


def _status(config: Config, out: TextIO) -> int:
    from appliance.export.backlog import finished_files
    from appliance.export.errors import describe

    files = finished_files(DataDir(config.data_dir).store)
    age = time.time() - files[0].mtime if files else 0.0
    out.write(f"backlog: {len(files)} files, {sum(f.size for f in files)} bytes, "
              f"oldest {age:.0f} s\n")
    uploader = _uploader(config)
    try:
        uploader.probe()
    except Exception as e:  # noqa: BLE001 - shown to the operator
        out.write(f"s3://{uploader.bucket}: NOT reachable: {describe(e)}\n")
        return 1
    out.write(f"s3://{uploader.bucket}: reachable (prefix {config.export.prefix or '(none)'!s})"
              f"{'' if config.export.enabled else '; [export] enabled is false'}\n")
    return 0


def run_s3_ls(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.export.errors import describe
    from appliance.storage.filters import Filter
    from appliance.storage.keys import BadKey, parse_key

    flt, schemas = load_filter(args.filter, config)
    flt = flt or Filter.all()
    uploader = _uploader(config)
    prefix = config.export.prefix.strip("/")
    start = f"{prefix}/" if prefix else ""
    partitions: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    try:
        pages = uploader.client.get_paginator("list_objects_v2").paginate(
            Bucket=uploader.bucket, Prefix=start)
        for page in pages:
            for obj in page.get("Contents", []):
                try:
                    key = parse_key(obj["Key"][len(start):], schemas)
                except BadKey:
                    continue
                if not flt.allows_key(key):
                    continue
                row = partitions["/".join((key.tree, *key.values))]
                row[0] += 1
                row[1] += file_records(key.file_name)
                row[2] += obj["Size"]
    except Exception as e:  # noqa: BLE001 - S3 trouble is the user's to see
        raise CommandError(f"s3://{uploader.bucket}: {describe(e)}") from None
    print_partitions(partitions, args.json, out)
    return 0
