"""The converter loop draining a spool with `[converter] processes` = 1 and 2.

Generated gzip pings (bench.payloads, ~15 KB, valid for the spec written to a
temp spec dir) in sealed spool segments, drained by `converter_loop(config)
.drain()` into a store: no receiver, no exporter, no S3, so this is the
converter alone. Interleaved rounds (1, 2, 1, 2, ...); each row gives wall
time and CPU seconds of the committer (this process) and of its worker
processes (the children it waited for), so a busy machine shows as wall time
far above CPU time, and the cost of the workers as CPU per ping.

Run: `.venv/bin/python -m bench.convert_processes [--pings N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from appliance.config import load_config
from appliance.convert.factory import converter_loop
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from bench.common import save
from bench.payloads import REVISION_HASH, PingGenerator

PER_SEGMENT = 500
DISTINCT = 200  # distinct bodies, reused: generating 15 KB pings is slow


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def spooled(root: Path, bodies: list[bytes], n: int) -> None:
    spool = SpoolDir(root / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9,
                               fsync=False)
    ids = RecordIds()
    for start in range(0, n, PER_SEGMENT):
        appender.append([SpoolRecord(ids.next(), 1_795_000_000 * 10**9,
                                     f"/submit/telemetry/d{i}", bodies[i % len(bodies)],
                                     {"Content-Encoding": "gzip"})
                         for i in range(start, min(n, start + PER_SEGMENT))])
        appender.rotate()


def drain_once(gen: PingGenerator, bodies: list[bytes], n: int, processes: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-convert-processes-") as tmp_name:
        root = Path(tmp_name)
        specs = root / "specs"
        specs.mkdir()
        (specs / f"{REVISION_HASH}.Histograms.json").write_text(json.dumps(gen.spec))
        spooled(root, bodies, n)
        config = load_config(env={"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(specs),
                                  "APPLIANCE_CONVERTER_PROCESSES": str(processes),
                                  "APPLIANCE_SPOOL_MIN_FREE_BYTES": "0",
                                  "APPLIANCE_SPOOL_MIN_FREE_PERCENT": "0"},
                             overrides={("server", "data_dir"): str(root)})
        loop = converter_loop(config)
        me, kids = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        loop.drain()
        wall = time.monotonic() - started
        me, kids = cpu(resource.RUSAGE_SELF) - me, cpu(resource.RUSAGE_CHILDREN) - kids
        if loop.counts.converted != n:
            raise RuntimeError(f"converted {loop.counts.converted} of {n}")
        return {"seconds": wall, "pings_per_second": n / wall, "committer_cpu": me,
                "workers_cpu": kids, "pings_per_cpu_second": n / (me + kids)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gen = PingGenerator(1)
    bodies = [gen.gzip_bytes(i) for i in range(DISTINCT)]
    rows: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for processes in rows:
            rows[processes].append(drain_once(gen, bodies, args.pings, processes))
    print(f"\nDrain of {args.pings} gzip pings, converter alone, medians of {args.rounds}")
    print(f"{'processes':>9} {'pings/s':>9} {'(min-max)':>13} {'committer CPU s':>16} "
          f"{'workers CPU s':>14} {'pings/CPU-s':>12}")
    for processes, runs in rows.items():
        rates = [r["pings_per_second"] for r in runs]
        print(f"{processes:>9} {statistics.median(rates):>9.0f} "
              f"{f'({min(rates):.0f}-{max(rates):.0f})':>13} "
              f"{statistics.median(r['committer_cpu'] for r in runs):>16.1f} "
              f"{statistics.median(r['workers_cpu'] for r in runs):>14.1f} "
              f"{statistics.median(r['pings_per_cpu_second'] for r in runs):>12.0f}")
    speedup = (statistics.median(r["pings_per_second"] for r in rows[2])
               / statistics.median(r["pings_per_second"] for r in rows[1]))
    print(f"2 processes / 1 process (wall): {speedup:.2f}")
    print(f"results: {save('convert_processes', {'pings': args.pings, 'runs': rows})}")


if __name__ == "__main__":
    main()
