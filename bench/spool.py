"""Spool append (fsync on) vs a bare os.writev + os.fdatasync loop on an O_APPEND file.

The appliance side is `SegmentAppender.append` (frame encoding, the shared
segment lock, rotation checks, one writev per group of whole frames, then
fdatasync). The baseline writes the same frames, encoded beforehand, with
os.writev (split at IOV_MAX buffers, as the kernel requires) and one
os.fdatasync per batch on an O_APPEND file in the same directory. Batch sizes
1, 64 and 512 records; bodies of ~1 KB JSON and of a 15 KB gzip ping. 3
interleaved rounds, medians with min-max. Target: appliance/bare >= 0.8.

Run: `make bench` or `.venv/bin/python -m bench.spool [--seconds S]`.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord, frame
from bench.common import interleaved, save, spread
from bench.payloads import PingGenerator

MB = 1e6
BATCHES = (1, 64, 512)
try:
    IOV_MAX = os.sysconf("SC_IOV_MAX")
except (ValueError, OSError):
    IOV_MAX = 1024


def bodies() -> dict[str, bytes]:
    small = json.dumps({"ver": 1, "info": {"OS": "Linux", "appName": "Firefox"},
                        "pad": "x" * 900}, separators=(",", ":")).encode()
    return {"1 KB": small, "15 KB gzip ping": PingGenerator(1).gzip_bytes(0)}


def make_records(body: bytes, n: int) -> list[SpoolRecord]:
    ids = RecordIds()
    now = time.time_ns()
    return [SpoolRecord(ids.next(), now + i, f"/submit/telemetry/doc-{i}", body,
                        {"Content-Encoding": "gzip"} if body[:2] == b"\x1f\x8b" else {})
            for i in range(n)]


def appliance_case(root: Path, records: list[SpoolRecord], batch: int, seconds: float):
    def run() -> dict:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            spool = SpoolDir(Path(tmp) / "spool")
            spool.create()
            appender = SegmentAppender(spool, max_segment_bytes=1 << 40,
                                       max_segment_age=1e9, fsync=True)
            n = nbytes = 0
            started = time.perf_counter()
            i = 0
            while time.perf_counter() - started < seconds:
                chunk = records[i:i + batch]
                if len(chunk) < batch:
                    i, chunk = 0, records[:batch]
                result = appender.append(chunk)
                assert result.acked == batch, result
                n += batch
                nbytes += result.bytes_written
                i += batch
            elapsed = time.perf_counter() - started
            appender.close()
        return {"records_s": n / elapsed, "mbs": nbytes / MB / elapsed}
    return run


def bare_case(root: Path, records: list[SpoolRecord], batch: int, seconds: float):
    frames = [frame.encode(r) for r in records]  # pre-encoded: not part of the timing

    def run() -> dict:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            fd = os.open(Path(tmp) / "bare", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            n = nbytes = 0
            started = time.perf_counter()
            i = 0
            while time.perf_counter() - started < seconds:
                chunk = frames[i:i + batch]
                if len(chunk) < batch:
                    i, chunk = 0, frames[:batch]
                buffers = [b for f in chunk for b in f]
                for start in range(0, len(buffers), IOV_MAX):
                    nbytes += os.writev(fd, buffers[start:start + IOV_MAX])
                os.fdatasync(fd)
                n += batch
                i += batch
            elapsed = time.perf_counter() - started
            os.close(fd)
        return {"records_s": n / elapsed, "mbs": nbytes / MB / elapsed}
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.7, help="per case and round")
    parser.add_argument("--dir", default=None, help="directory on the disk to measure")
    args = parser.parse_args()
    root = Path(args.dir or tempfile.gettempdir())
    tables = {}
    for body_name, body in bodies().items():
        records = make_records(body, 2048)
        cases = {}
        for batch in BATCHES:
            cases[f"appliance batch {batch}"] = appliance_case(root, records, batch, args.seconds)
            cases[f"bare batch {batch}"] = bare_case(root, records, batch, args.seconds)
        results = interleaved(cases)
        tables[body_name] = {name: {k: spread([r[k] for r in runs]) for k in runs[0]}
                             for name, runs in results.items()}
    print(f"spool append with fdatasync in {root}; medians of 3 interleaved rounds (min-max)")
    ratios = {}
    for body_name, table in tables.items():
        print(f"\n{body_name} ({len(bodies()[body_name])} bytes body)")
        print(f"{'case':22} {'records/s':>26} {'MB/s':>22} {'appliance/bare':>15}")
        for batch in BATCHES:
            a, b = table[f"appliance batch {batch}"], table[f"bare batch {batch}"]
            ratio = a["records_s"]["median"] / b["records_s"]["median"]
            ratios[f"{body_name}, batch {batch}"] = ratio
            for name, row in ((f"appliance batch {batch}", a), (f"bare batch {batch}", b)):
                def cell(k, row=row, fmt="{:.0f}"):
                    return (f"{fmt.format(row[k]['median'])} ({fmt.format(row[k]['min'])}-"
                            f"{fmt.format(row[k]['max'])})")
                print(f"{name:22} {cell('records_s'):>26} {cell('mbs', fmt='{:.1f}'):>22} "
                      f"{(f'{ratio:.2f}' if name.startswith('appliance') else ''):>15}")
    met = all(r >= 0.8 for r in ratios.values())
    print(f"\ntarget appliance/bare >= 0.8: {'met' if met else 'not met'} "
          f"(min ratio {min(ratios.values()):.2f})")
    path = save("spool", {"seconds_per_case": args.seconds, "dir": str(root),
                          "tables": tables, "ratios": ratios, "target_met": met})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
