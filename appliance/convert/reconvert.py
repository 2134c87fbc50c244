"""Converting again the records of invalid/ whose reason can now be fixed.

A ping that failed as `unknown_revision` or `spec_unavailable` converts once
its revision's spec is installed or the histogram server answers. Each such
record in the local invalid/ tree is converted from the original bytes kept
in its line; in one commit of the converter's checkpoint (checkpoint.py), the
converted records become new store files, each invalid file that held one is
replaced by a file of its remaining lines, and the ledger's counts move from
invalid to converted. A crash before the commit changes nothing, one after it
is finished by the next recovery, and a second run finds nothing to do: each
record is in the store exactly once, and every day still reconciles.

It runs with the server stopped (it takes the converter's lock), and leaves
out invalid files that were already exported (their copy in S3 stays).
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import zstandard

from appliance.convert.records import RecordConverter
from appliance.ledger.converted import DayCounts
from appliance.ledger.dates import DayOf
from appliance.spool.record import SpoolRecord
from appliance.storage.checkpoint import Checkpoint, CheckpointLog
from appliance.storage.keys import INVALID_TREE
from appliance.storage.partfiles import PartitionFiles

FIXABLE = ("unknown_revision", "spec_unavailable")


@dataclass
class ReconvertReport:
    """What a run did: records converted by their old reason, those still invalid (by
    their reason now), invalid files replaced, and files left out as already exported."""

    converted: Counter[str] = field(default_factory=Counter)
    still_invalid: Counter[str] = field(default_factory=Counter)
    files_replaced: int = 0
    files_exported: int = 0


def invalid_files(store_root: Path) -> list[Path]:
    """The store files of the invalid/ tree, in key order."""
    return sorted(p for p in (store_root / INVALID_TREE).rglob("*.zst")
                  if not p.name.startswith("."))


def _lines(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        reader = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
        return reader.read().splitlines()


def _record(entry: dict) -> SpoolRecord:
    """The spool record an invalid/ line was made from."""
    return SpoolRecord(bytes.fromhex(entry["record_id"]), entry["received_ns"], entry["path"],
                       base64.b64decode(entry["body_base64"]), entry.get("headers", {}),
                       entry.get("client_ip"))


def reconvert(store_root: Path, spool_root: Path, converter: RecordConverter, *,
              node_id: str, level: int, max_file_bytes: int, reasons=FIXABLE,
              exported: frozenset[str] | set[str] = frozenset()) -> ReconvertReport:
    """Convert again the invalid/ records with one of `reasons` (see the module docstring).

    `exported` are store keys already exported (left as they are). The caller holds the
    converter's lock.
    """
    log = CheckpointLog(store_root, spool_root)
    checkpoint = log.recover()
    days = DayCounts(checkpoint.ledger)
    day_of = DayOf()
    files = PartitionFiles(store_root, f"reconvert{time.time_ns():x}", node_id,
                           level=level, max_file_bytes=max_file_bytes)
    report = ReconvertReport()
    replaced: list[str] = []
    for path in invalid_files(store_root):
        key = path.relative_to(store_root).as_posix()
        lines = _lines(path)
        entries = [orjson.loads(line.partition(b"\t")[2]) for line in lines]
        fixable = [(i, entry) for i, entry in enumerate(entries) if entry["reason"] in reasons]
        if not fixable:
            continue
        if key in exported:
            report.files_exported += 1
            continue
        converted = {}
        for i, entry in fixable:
            result = converter.convert(_record(entry))
            if result.invalid_reason:
                report.still_invalid[result.invalid_reason] += 1
                continue
            converted[i] = result
            report.converted[entry["reason"]] += 1
            days.reconverted(day_of(entry["received_ns"]), entry["reason"])
        if not converted:
            continue
        partition = key.rsplit("/", 1)[0]
        for i, line in enumerate(lines):
            redone = converted.get(i)
            received_ns = entries[i].get("received_ns")  # kept with the line (arrivals)
            if redone is None:
                files.write(partition, line + b"\n", received_ns)
            else:
                redone.write(files, received_ns)
        replaced.append(key)
        report.files_replaced += 1
    if replaced:
        done = files.finish_all()
        log.commit(Checkpoint(offsets=checkpoint.offsets, frontier=checkpoint.frontier,
                              renames=files.renames(done), ledger=days.as_json(),
                              store_delete=replaced))
    log.recover()  # clears .tmp/
    return report
