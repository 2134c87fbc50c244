"""The converter's CPU per record outside `RecordConverter.convert`.

Drains a spool of generated gzip pings (as bench/convert_processes.py) with a
converter that replays each distinct ping's conversion result instead of
converting it again, so what is left is everything around the conversion:
reading spool frames, handing records to the workers, the crash guard, the
ledger's day counts, writing partition files (zstd) and committing.
CPU is counted from when the workers are ready (their start-up, ~0.3 s each,
is left out) to the last commit: this process's and the workers' (/proc).
`--distinct 1` is the load of bench/e2e.py (one ping again and again: one
partition); the default, 200 distinct pings, writes ~200 partitions, where
creating the files weighs more (`--tmp /dev/shm` leaves the file system out).

Run: `.venv/bin/python -m bench.convert_overhead [--pings N] [--rounds R]
[--distinct D] [--tmp DIR]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
from pathlib import Path

from appliance.config import Config, load_config
from appliance.convert.factory import record_converter
from appliance.convert.loop import ConverterLoop
from appliance.convert.records import Converted, RecordConverter
from appliance.convert.workers import ConverterPool
from appliance.spool import SpoolDir
from appliance.spool.record import SpoolRecord
from bench.common import save
from bench.convert_processes import DISTINCT, spooled
from bench.payloads import REVISION_HASH, PingGenerator
from bench.proctimes import cpu_seconds


class ReplayConverter:
    """Replays the conversion of each distinct body, converted once when it is made: the
    bench spool's record `d<i>` carries body `i % len(bodies)`. Counts as RecordConverter."""

    def __init__(self, real: RecordConverter, bodies: list[bytes]):
        self.real = real
        self.results = [real.convert(SpoolRecord(b"\0" * 16, 0, f"/submit/telemetry/d{i}",
                                                 body, {"Content-Encoding": "gzip"}))
                        for i, body in enumerate(bodies)]
        self.converted = 0
        self.invalid_by_reason = real.invalid_by_reason
        self.unknown_histograms = real.unknown_histograms

    def convert(self, record: SpoolRecord) -> Converted:
        self.converted += 1
        return self.results[int(record.path.rpartition("/d")[2]) % len(self.results)]

    def quarantine(self, record: SpoolRecord, reason: str, detail: str) -> Converted:
        return self.real.quarantine(record, reason, detail)


def replay_converter(config: Config) -> ReplayConverter:
    """A ReplayConverter of the bodies saved in the data dir (a module-level function:
    see ConverterPool)."""
    saved = sorted(Path(config.data_dir, "bodies").iterdir(), key=lambda p: int(p.stem))
    return ReplayConverter(record_converter(config), [p.read_bytes() for p in saved])


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def workers_cpu(pool: ConverterPool | None) -> float:
    return sum(cpu_seconds(pid) for pid in pool.pids) if pool is not None else 0.0


def drain_cpu(bodies: list[bytes], spec: dict, n: int, processes: int,
              tmp: str | None = None) -> tuple:
    """(committer CPU s, workers CPU s) of draining `n` records with `processes`, from
    when the workers are ready (each has answered a message) to the last commit."""
    with tempfile.TemporaryDirectory(prefix="bench-convert-overhead-", dir=tmp) as tmp_name:
        root = Path(tmp_name)
        specs = root / "specs"
        specs.mkdir()
        (specs / f"{REVISION_HASH}.Histograms.json").write_text(json.dumps(spec))
        spooled(root, bodies, n)
        (root / "bodies").mkdir()
        for i, body in enumerate(bodies):
            (root / "bodies" / f"{i}.gz").write_bytes(body)
        config = load_config(env={"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(specs)},
                             overrides={("server", "data_dir"): str(root)})
        store, level = root / "store", config.store.compression_level
        max_file_bytes = config.store.max_file_bytes
        pool = (ConverterPool(config, processes, make_converter=replay_converter,
                              spool_root=root / "spool", store_root=store, node_id="bench",
                              level=level, max_file_bytes=max_file_bytes)
                if processes >= 2 else None)
        loop = ConverterLoop(SpoolDir(root / "spool"), store, replay_converter(config),
                             node_id="bench", level=level, max_file_bytes=max_file_bytes,
                             max_file_age=config.store.max_file_age, pool=pool)
        loop.recover()
        if pool is not None:
            pool.start()
            pool.drop()  # answered once every worker is ready
        committer, workers = own_cpu(), workers_cpu(pool)
        loop.run_once()
        loop.commit()
        committer, workers = own_cpu() - committer, workers_cpu(pool) - workers
        loop.close()
        if loop.counts.converted != n:
            raise RuntimeError(f"converted {loop.counts.converted} of {n}")
        return committer, workers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--distinct", type=int, default=DISTINCT,
                        help="distinct pings (each of its own partition, as they come)")
    parser.add_argument("--tmp", help="where the spool and store go (a tmpfs leaves out the "
                                      "file system's cost of creating files)")
    args = parser.parse_args()
    gen = PingGenerator(1)
    bodies = [gen.gzip_bytes(i) for i in range(args.distinct)]
    rows: dict[int, list[dict]] = {1: [], 2: []}
    for _ in range(args.rounds):
        for processes, runs in rows.items():
            per = [c / args.pings * 1e6 for c in drain_cpu(bodies, gen.spec, args.pings, processes,
                                                            args.tmp)]
            runs.append({"committer_us": per[0], "workers_us": per[1]})
    print(f"\nCPU per record outside conversion, {args.pings} gzip pings "
          f"({args.distinct} distinct), medians of {args.rounds}")
    print(f"{'processes':>9} {'committer us':>13} {'workers us':>11} {'all us':>8}")
    for processes, runs in rows.items():
        committer = statistics.median(r["committer_us"] for r in runs)
        workers = statistics.median(r["workers_us"] for r in runs)
        print(f"{processes:>9} {committer:>13.1f} {workers:>11.1f} {committer + workers:>8.1f}")
    saved = save('convert_overhead', {'pings': args.pings, 'distinct': args.distinct, 'runs': rows})
    print(f"results: {saved}")


if __name__ == "__main__":
    main()
