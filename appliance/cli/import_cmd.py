"""`appliance import`: load 2013 telemetry-server raw logs into the spool.

Every file is checked first (readable, and a v1/v2 raw log, plain or gzip), so
a bad argument costs nothing. Then each record is appended to the data dir's
spool exactly as the receiver would have stored it (body as logged, path as
logged, receive time ms * 10^6 ns, no headers, the client IP of v2 logs), and
the active segment is sealed at the end so the converter can take it.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config
from appliance.datadir import DataDir
from appliance.spool.appender import SegmentAppender
from appliance.spool.rawlog import (
    DETECT_WINDOW,
    RawLogError,
    RawLogReport,
    detect_version,
    open_raw_log,
    read_raw_log,
)
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.spool.segments import SpoolDir

BATCH_RECORDS = 256
MAX_REGIONS_SHOWN = 20


class _ImportFailed(Exception):
    pass


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "import", parents=[common],
        help="import 2013 telemetry-server raw logs (v1/v2, plain or gzip) into the spool",
        description="Append every record of the given raw logs to the data dir's spool and "
                    "seal the segment for conversion. Paths are stored as logged (the 2013 "
                    "server logged them without the /submit/telemetry/ prefix), receive times "
                    "as ms * 10^6 ns. Prints one summary per file. Exit "
                    "status: 0 all imported cleanly; 1 a file had damaged bytes (skipped and "
                    "counted; the other records are imported) or a spool write failed; 2 a "
                    "file is unreadable or not a raw log (nothing is imported).")
    p.add_argument("files", nargs="+", metavar="FILE", help="raw log file")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    for name in args.files:
        _check(name)
    spool = SpoolDir(DataDir(config.data_dir).spool)
    try:
        spool.create()
    except OSError as e:
        raise CommandError(f"cannot create the spool directory {spool.root}: {e}") from None
    appender = SegmentAppender(
        spool,
        max_segment_bytes=config.spool.max_segment_bytes,
        max_segment_age=config.spool.max_segment_age,
        fsync=config.spool.durability == "fsync",
    )
    importer = _Importer(appender, RecordIds(), config.spool.max_batch_bytes)
    code = 0
    totals = [0, 0, 0]
    try:
        for name in args.files:
            report = RawLogReport()
            try:
                importer.load(name, report)
            except _ImportFailed as e:
                print(f"{name}: {e}", file=out)
                code = 1
                break
            finally:
                totals[0] += importer.records
                totals[1] += importer.body_bytes
                totals[2] += report.skipped_bytes
            _summary(name, report, importer, out)
            if report.damaged:
                code = 1
    finally:
        try:
            if appender.rotate():
                print(f"sealed the spool segment in {spool.root}", file=out)
        except OSError as e:
            print(f"could not seal the spool segment in {spool.root}: {e}", file=out)
            code = 1
    if len(args.files) > 1:
        print(f"total: {totals[0]} records ({totals[1]} bytes) imported, "
              f"{totals[2]} bytes skipped", file=out)
    return code


def _check(name: str) -> None:
    """Raise CommandError unless `name` is a readable raw log."""
    try:
        with open_raw_log(name, limit=DETECT_WINDOW) as data:
            detect_version(data.buf)
    except (OSError, RawLogError) as e:
        raise CommandError(f"{name}: {getattr(e, 'strerror', None) or e}") from None


class _Importer:
    """Appends records to the spool in batches; counts what was made durable."""

    def __init__(self, appender: SegmentAppender, ids: RecordIds, max_batch_bytes: int):
        self.appender = appender
        self.ids = ids
        self.max_batch_bytes = max_batch_bytes
        self.records = self.body_bytes = 0
        self._batch: list[SpoolRecord] = []
        self._batch_bytes = 0

    def load(self, name: str, report: RawLogReport) -> None:
        self.records = self.body_bytes = 0
        try:
            for raw in read_raw_log(name, report):
                self._batch.append(SpoolRecord(
                    record_id=self.ids.next(), received_ns=raw.received_ms * 1_000_000,
                    path=raw.path, body=raw.body, headers={}, client_ip=raw.client_ip))
                self._batch_bytes += len(raw.body) + len(raw.path)
                if (len(self._batch) >= BATCH_RECORDS
                        or self._batch_bytes >= self.max_batch_bytes):
                    self._flush()
            self._flush()
        except (OSError, RawLogError) as e:
            # The file changed or vanished since it was checked.
            self._batch, self._batch_bytes = [], 0
            raise _ImportFailed(f"read failed after {self.records} records: {e}") from None

    def _flush(self) -> None:
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not batch:
            return
        try:
            result = self.appender.append(batch)
        except OSError as e:
            raise _ImportFailed(self._failure(e)) from None
        self.records += result.acked
        self.body_bytes += sum(len(r.body) for r in batch[:result.acked])
        if result.acked < len(batch):
            raise _ImportFailed(self._failure(result.error))

    def _failure(self, error: OSError | None) -> str:
        return (f"spool write failed after {self.records} records were imported "
                f"(the rest of this file and later files were not): {error}")


def _summary(name: str, report: RawLogReport, importer: _Importer, out: TextIO) -> None:
    kind = f"{report.version or 'empty'} raw log" + (", gzip" if report.compressed else "")
    print(f"{name}: {importer.records} records ({importer.body_bytes} bytes) imported, "
          f"{report.skipped_bytes} bytes skipped in {len(report.skipped)} damaged regions "
          f"[{kind}]", file=out)
    where = " (offsets in the decompressed data)" if report.compressed else ""
    for i, region in enumerate(report.skipped[:MAX_REGIONS_SHOWN]):
        last = i == len(report.skipped) - 1
        note = ": a truncated final record" if last and report.truncated_tail else ""
        print(f"  skipped {region.length} bytes at offset {region.offset}{where}{note}",
              file=out)
    if len(report.skipped) > MAX_REGIONS_SHOWN:
        print(f"  ... and {len(report.skipped) - MAX_REGIONS_SHOWN} more damaged regions",
              file=out)
    if report.ignored_tail:
        print(f"  ignored {report.ignored_tail} bytes of white space after the last record",
              file=out)
    if report.gzip_error:
        print(f"  the gzip stream is damaged; data after it is lost: {report.gzip_error}",
              file=out)
