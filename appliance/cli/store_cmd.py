"""`appliance store ls`: what the local store holds, per partition."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from appliance.cli.common import CommandError, Subparsers, load_filter
from appliance.config import Config
from appliance.datadir import DataDir
from appliance.storage.filenames import SUFFIX, file_records


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("store", parents=[common], help="inspect the local store",
                       description="Inspect the partitioned store in the data dir.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    ls = actions.add_parser("ls", parents=[common], help="list partitions",
                            description="List partitions with their file count, records and "
                                        "bytes (records are read from file names, no file is "
                                        "opened; a filter prunes whole directories).")
    ls.add_argument("--filter", type=Path, metavar="FILTER.json",
                    help="a filter in the schema format (see docs/storage-keys.md)")
    ls.add_argument("--store", type=Path, metavar="DIR",
                    help="a store directory other than the data dir's (e.g. convert --out)")
    ls.add_argument("--json", action="store_true", help="one JSON object per partition")
    ls.set_defaults(run=run_ls)


def print_partitions(rows: Mapping[str, Sequence[int]], as_json: bool, out: TextIO) -> None:
    """Partition -> (files, records, bytes) as tab-separated lines and a total, or JSON lines."""
    for name in sorted(rows):
        files, records, size = rows[name]
        if as_json:
            out.write(json.dumps({"partition": name, "files": files, "records": records,
                                  "bytes": size}) + "\n")
        else:
            out.write(f"{name}\t{files} files\t{records} records\t{size} bytes\n")
    if not as_json:
        totals = [sum(row[i] for row in rows.values()) for i in range(3)]
        out.write(f"total: {len(rows)} partitions, {totals[0]} files, {totals[1]} records, "
                  f"{totals[2]} bytes\n")


def run_ls(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.storage.walk import walk_partitions

    flt, schemas = load_filter(args.filter, config)
    root = args.store or DataDir(config.data_dir).store
    if not root.is_dir():
        raise CommandError(f"no store at {root}")
    rows = {}
    for partition in walk_partitions(root, flt, schemas):
        files = [e for e in os.scandir(partition.path) if e.is_file() and e.name.endswith(SUFFIX)]
        if files:
            rows["/".join((partition.tree, *partition.values))] = (
                len(files), sum(file_records(e.name) for e in files),
                sum(e.stat().st_size for e in files))
    print_partitions(rows, args.json, out)
    return 0
