"""`appliance spool verify|dump`: check spool segments and print their records."""

from __future__ import annotations

import argparse
import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config
from appliance.datadir import DataDir
from appliance.spool.reader import ReadReport, read_segment
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir

GZIP_MAGIC = b"\x1f\x8b"


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("spool", help="check or print spool segments",
                       description="Check spool segments for damage, or print their records.")
    spool_sub = p.add_subparsers(dest="spool_command", metavar="ACTION", required=True)

    v = spool_sub.add_parser(
        "verify", parents=[common], help="read every frame and report damaged regions",
        description="Read every frame of the given segments and report records, damaged "
                    "regions (offset and length) and damaged bytes per file, then a total. "
                    "A directory means its segments (sealed, rotating, then the active one); "
                    "no PATH means the data dir's spool. The active segment of a running "
                    "server may show a write in flight at its end as damage. "
                    "Exit status 1 if any damage was found, else 0.")
    v.add_argument("paths", nargs="*", metavar="PATH", help="segment file or spool directory")
    v.set_defaults(run=run_verify)

    d = spool_sub.add_parser(
        "dump", parents=[common], help="print records as JSON lines",
        description="Print one JSON object per valid record: id (hex), received_ns, "
                    "received (ISO-8601 UTC), path, headers, client_ip (if stored), "
                    "body_length; with --body also body (UTF-8 text, or base64 with "
                    "\"body_encoding\": \"base64\" for gzip or non-UTF-8 bodies). Damaged "
                    "regions are skipped silently here; if there were any, the exit status "
                    "is 1 (after all records are printed): run `appliance spool verify` "
                    "for where they are.")
    d.add_argument("path", nargs="?", metavar="PATH",
                   help="segment file or spool directory (default: the data dir's spool, "
                        "every segment, sealed or active)")
    d.add_argument("--body", action="store_true", help="include each record's body")
    d.set_defaults(run=run_dump)


def _segments(paths: list[str], config: Config) -> list[Path]:
    """The segment files named by `paths` (directories expanded), in order."""
    targets = [Path(p) for p in paths] or [DataDir(config.data_dir).spool]
    found: list[Path] = []
    for target in targets:
        if target.is_dir():
            found.extend(SpoolDir(target).all_segments())
        elif target.exists():
            found.append(target)
        else:
            raise CommandError(f"{target}: no such file or directory")
    return found


def run_verify(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    segments = _segments(args.paths, config)
    total = ReadReport()
    for path in segments:
        report = ReadReport()
        try:
            for _ in read_segment(path, report):
                pass
        except OSError as e:
            raise CommandError(f"{path}: {e.strerror or e}") from None
        print(f"{path}: {report.records} records, {report.damaged_regions} damaged regions, "
              f"{report.damaged_bytes} damaged bytes", file=out)
        for region in report.damaged:
            print(f"  damaged: offset {region.offset}, length {region.length}", file=out)
        total.records += report.records
        total.damaged.extend(report.damaged)
    print(f"total: {len(segments)} segments, {total.records} records, "
          f"{total.damaged_regions} damaged regions, {total.damaged_bytes} damaged bytes",
          file=out)
    return 1 if total.damaged else 0


def run_dump(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    report = ReadReport()
    for path in _segments([args.path] if args.path else [], config):
        try:
            for record in read_segment(path, report):
                out.write(json.dumps(record_json(record, args.body), ensure_ascii=False) + "\n")
        except OSError as e:
            raise CommandError(f"{path}: {e.strerror or e}") from None
    return 1 if report.damaged else 0


def record_json(record: SpoolRecord, with_body: bool = False) -> dict[str, Any]:
    """The JSON object `spool dump` prints for one record."""
    obj: dict[str, Any] = {
        "id": record.id_hex,
        "received_ns": record.received_ns,
        "received": iso_utc(record.received_ns),
        "path": record.path,
        "headers": record.headers,
    }
    if record.client_ip is not None:
        obj["client_ip"] = record.client_ip
    obj["body_length"] = len(record.body)
    if with_body:
        text = None
        if not record.body.startswith(GZIP_MAGIC):
            try:
                text = record.body.decode("utf-8")
            except UnicodeDecodeError:
                pass
        if text is None:
            obj["body"] = base64.b64encode(record.body).decode("ascii")
            obj["body_encoding"] = "base64"
        else:
            obj["body"] = text
    return obj


def iso_utc(received_ns: int) -> str | None:
    """`2013-09-10T14:21:51.255000Z` (None if the time is out of datetime's range)."""
    seconds, ns = divmod(received_ns, 1_000_000_000)
    try:
        when = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{when:%Y-%m-%dT%H:%M:%S}.{ns // 1000:06d}Z"
