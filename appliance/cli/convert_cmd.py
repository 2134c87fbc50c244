"""`appliance convert`: the converter pipeline on files, and the server's converter child."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config
from appliance.datadir import DataDir
from appliance.selfcmd import CONVERTER_WORKER
from appliance.spool import RecordIds, SpoolRecord, read_segment
from appliance.spool.frame import MAGIC

if TYPE_CHECKING:  # only for the annotation: the converter loads when it runs
    from appliance.convert.loop import ConverterCounts


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "convert", parents=[common], help="convert spool segments or 2013 raw logs into a store",
        description="Run the converter on files, for backfills and debugging: each input "
                    "(a spool segment or a 2013 raw log) is decompressed, validated, its "
                    "histograms converted, and written partitioned into the store at --out. "
                    "Records that fail go to --out/invalid/ with their reason. Inputs are "
                    "not modified.")
    p.add_argument("inputs", nargs="+", metavar="SPOOL_OR_RAWLOG", type=Path)
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="store directory to write (created if needed)")
    p.add_argument("--specs", type=Path, metavar="DIR",
                   help="histogram spec directory (default: [histograms] spec_dir)")
    p.set_defaults(run=run)

    worker = sub.add_parser(CONVERTER_WORKER, parents=[common])  # no help: not listed
    worker.set_defaults(run=run_worker)


def _records(path: Path) -> Iterator[SpoolRecord]:
    """Records of a spool segment or a raw log, as spool records."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head == MAGIC:
        yield from read_segment(path)
        return
    from appliance.spool.rawlog import RawLogError, read_raw_log

    ids = RecordIds()
    try:
        for raw in read_raw_log(path):
            yield SpoolRecord(ids.next(), raw.received_ms * 1_000_000, raw.path, raw.body,
                              {}, raw.client_ip)
    except RawLogError as e:
        raise CommandError(f"{path}: {e}") from None


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.convert.factory import record_converter
    from appliance.node import node_identity
    from appliance.storage.checkpoint import Checkpoint, CheckpointLog
    from appliance.storage.partfiles import PartitionFiles

    for path in args.inputs:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
    converter = record_converter(config, args.specs)
    generation = f"convert{time.time_ns():x}"
    files = PartitionFiles(args.out, generation, node_identity(config).name,
                           level=config.store.compression_level,
                           max_file_bytes=config.store.max_file_bytes)
    for path in args.inputs:
        n = 0
        for record in _records(path):
            result = converter.convert(record)
            result.write(files, record.received_ns)
            n += 1
        out.write(f"{path}: {n} records\n")
    done = files.finish_all()
    CheckpointLog(args.out, args.out).commit(Checkpoint(renames=files.renames(done)))
    invalid = sum(converter.invalid_by_reason.values())
    out.write(f"converted {converter.converted}, invalid {invalid}"
              + "".join(f", {k}: {v}" for k, v in sorted(converter.invalid_by_reason.items()))
              + f"; {len(done)} files in {args.out}\n")
    unknown = converter.unknown_histograms
    if unknown:
        top = ", ".join(f"{name}: {n}" for name, n in list(unknown.top().items())[:10])
        out.write(f"unknown histograms kept aside: {unknown.total} ({top})\n")
    return 0


def run_worker(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    """The server's converter child: convert until SIGTERM, one JSON line per commit."""
    from appliance.convert.crashguard import arm_crash_marker
    from appliance.convert.factory import converter_loop
    from appliance.convert.workers import WorkerDied
    from appliance.ledger.accepted import AcceptedGate
    from appliance.lifecycle import (
        die_with_parent,
        lead_process_group,
        lock_exclusive,
        stop_on_signals,
    )
    from appliance.storage.filenames import CONVERTER_LOCK

    lead_process_group()  # its worker processes are signalled with it (supervise.py)
    # Until stop_on_signals below, a SIGTERM (the server's, or this one when the server
    # is gone) ends this process at once: it has done nothing yet.
    die_with_parent()
    store = DataDir(config.data_dir).store
    store.mkdir(parents=True, exist_ok=True)
    # One converter per store: a converter orphaned by a killed server finishes
    # its generation (it got SIGTERM with its parent) before a new one starts.
    lock_exclusive(store / CONVERTER_LOCK, wait=True)

    def report(counts: ConverterCounts) -> None:
        out.write(json.dumps(dataclasses.asdict(counts)) + "\n")
        out.flush()

    loop = converter_loop(config, on_report=report)
    if loop.pool is not None:
        loop.pool.start()  # while this process has no other thread: forked (workers.py)
    stop = threading.Event()
    stop_on_signals(stop)  # its thread is the first
    arm_crash_marker(loop.converter)
    # Convert (and so delete from the spool) only records whose accepted count is saved.
    loop.gate = AcceptedGate(DataDir(config.data_dir).ledger)
    try:
        loop.run(stop, idle_wait=config.converter.idle_wait)
    except WorkerDied as e:  # the server restarts this child from the last checkpoint
        print(f"converter: {e}; restarting from the last commit", file=sys.stderr)
        return 70
    print("converter stopped", file=sys.stderr)
    return 0
