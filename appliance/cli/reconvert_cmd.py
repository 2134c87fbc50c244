"""`appliance reconvert`: convert again the invalid/ records whose reason can now be fixed."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config
from appliance.datadir import DataDir


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    from appliance.convert.reconvert import FIXABLE

    p = sub.add_parser(
        "reconvert", parents=[common],
        help="convert again the records in invalid/ whose reason can now be fixed",
        description="Convert again, from the original bytes kept in invalid/, the records "
                    "that failed for a reason that may since have gone (by default "
                    f"{' and '.join(FIXABLE)}: install the revision's spec first). Each "
                    "record that converts moves into the store exactly once and the ledger "
                    "counts it as converted; the others stay in invalid/ as they were. Run "
                    "it with the server stopped.")
    p.add_argument("--reason", action="append", metavar="REASON",
                   help=f"an invalid reason to convert again (repeatable; default: "
                        f"{', '.join(FIXABLE)})")
    p.add_argument("--specs", type=Path, metavar="DIR",
                   help="histogram spec directory (default: [histograms] spec_dir)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.convert.factory import record_converter
    from appliance.convert.reconvert import FIXABLE, reconvert
    from appliance.ledger.exported import ExportedLedger
    from appliance.lifecycle import AlreadyLocked, DataDirInUse, hold_data_dir, lock_exclusive
    from appliance.node import node_identity
    from appliance.storage.filenames import CONVERTER_LOCK
    from appliance.storage.keys import INVALID_TREE

    store = DataDir(config.data_dir).store
    if not (store / INVALID_TREE).is_dir():
        raise CommandError(f"{store}: no invalid/ tree (is {config.data_dir} a data dir?)")
    locks = []
    try:
        locks.append(hold_data_dir(config.data_dir))
        locks.append(lock_exclusive(store / CONVERTER_LOCK, wait=False))
        report = reconvert(store, DataDir(config.data_dir).spool,
                           record_converter(config, args.specs),
                           node_id=node_identity(config).name,
                           level=config.store.compression_level,
                           max_file_bytes=config.store.max_file_bytes,
                           reasons=tuple(args.reason or FIXABLE),
                           exported=ExportedLedger.journaled_keys(DataDir(config.data_dir).ledger))
    except (DataDirInUse, AlreadyLocked) as e:
        raise CommandError(f"the server (or its converter) is running on {config.data_dir}; "
                           f"stop it first ({e})") from None
    finally:
        for fd in locks:
            os.close(fd)
    total = sum(report.converted.values())
    out.write(f"reconverted {total}"
              + "".join(f", {k}: {v}" for k, v in sorted(report.converted.items()))
              + f"; {report.files_replaced} invalid file(s) replaced\n")
    if report.still_invalid:
        out.write("still invalid (left as they were): "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(report.still_invalid.items()))
                  + "\n")
    if report.files_exported:
        out.write(f"{report.files_exported} invalid file(s) already exported: left out\n")
    return 0
