"""MapReduce: appliance.mr.LocalRunner (1 and 2 mappers) vs a single-process floor loop.

The store is built as the converter builds it: generated pings
(bench/payloads.py) through `RecordConverter.convert`, lines written with
`PartitionFiles` (zstd level 1, the default) and committed with
`CheckpointLog.commit` (submission paths carry the dimensions, with one
build id, so partitions hold ~1 MB files). Jobs: record count
(examples/jobs/count.py), count by info.OS (examples/jobs/count_by_os.py) and
a histogram's buckets summed per channel (examples/jobs/histogram_by_channel.py
with HISTOGRAM set). The floor is one process, no framework: for each file,
decompress, split lines, split the docId off and do the same work with the
same parser (orjson) into a dict. MB/s of uncompressed input; runner times
include starting its processes and writing the output.
3 interleaved rounds, medians with min-max. Targets: 1 mapper >= 0.9x the
floor, 2 mappers >= 1.7x (2 cores).

Run: `make bench` or `.venv/bin/python -m bench.mapreduce [--pings N] [--dask]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import orjson
import zstandard

from appliance.mr import LocalRunner, select_inputs
from bench.common import interleaved, save, spread
from bench.payloads import REVISION_HASH, PingGenerator

MB = 1e6
ROOT = Path(__file__).resolve().parents[1]
JOBS = {"count": ROOT / "examples" / "jobs" / "count.py",
        "count by OS": ROOT / "examples" / "jobs" / "count_by_os.py",
        "histogram by channel": ROOT / "examples" / "jobs" / "histogram_by_channel.py"}
HISTOGRAM, SUMMARY = "BENCH_EXPONENTIAL_000", 5
os.environ["HISTOGRAM"] = HISTOGRAM  # the example job reads it (workers inherit it)


def build_store(tmp: Path, pings: int) -> Path:
    # imported here: the runner's spawned workers import this module (their __main__)
    from appliance.convert.records import RecordConverter
    from appliance.convert.specs import SpecStore
    from appliance.spool.record import RecordIds, SpoolRecord
    from appliance.storage.checkpoint import Checkpoint, CheckpointLog
    from appliance.storage.partfiles import PartitionFiles
    from appliance.storage.schema import Schema

    gen = PingGenerator(1)
    specs = tmp / "specs"
    specs.mkdir()
    (specs / f"{REVISION_HASH}.Histograms.json").write_text(json.dumps(gen.spec))
    converter = RecordConverter(SpecStore(specs), Schema.telemetry_default(),
                                max_decompressed_bytes=10 << 20)
    store, spool = tmp / "store", tmp / "spool"
    spool.mkdir()
    files = PartitionFiles(store, "0001", "node1", level=1, max_file_bytes=8 << 20)
    ids = RecordIds()
    day = 1_795_000_000 * 10**9
    for i in range(pings):
        # two submission days, so there are more partitions
        # URL dimensions with one build id: ~64 partitions of ~1 MB files, not one
        # partition per ping (the generator gives every ping its own build id)
        info = gen.ping(i)["info"]
        path = (f"/submit/telemetry/doc-{i}/{info['reason']}/{info['appName']}/"
                f"{info['appVersion']}/{info['appUpdateChannel']}/20130814063812")
        record = SpoolRecord(ids.next(), day + (i % 2) * 86_400 * 10**9, path,
                             gen.json_bytes(i))
        result = converter.convert(record)
        assert result.invalid_reason is None
        files.write(result.partition, result.line)
    CheckpointLog(store, spool).commit(Checkpoint(renames=files.renames(files.finish_all())))
    return store


def cached_store(pings: int) -> Path:
    """The benchmark store for `pings`, built once into bench/results/cache (ignored by git)."""
    cache = ROOT / "bench" / "results" / "cache" / f"mapreduce-{pings}"
    if not (cache / "store").is_dir():
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="mr-store-", dir=cache.parent))
        build_store(tmp, pings)
        shutil.rmtree(cache, ignore_errors=True)
        tmp.rename(cache)
    return cache / "store"


def _lines(path: str):
    with open(path, "rb") as f:
        data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    return data, data.split(b"\n")


def floor(job: str, inputs) -> tuple[dict, int]:
    out: dict = Counter() if job != "histogram by channel" else {}
    nbytes = 0
    for inp in inputs:
        data, lines = _lines(inp.path)
        nbytes += len(data)
        for line in lines:
            if not line:
                continue
            _doc, _, value = line.partition(b"\t")
            if job == "count":
                out["records"] += 1
            elif job == "count by OS":
                out[(orjson.loads(value).get("info") or {}).get("OS") or "UNKNOWN"] += 1
            else:
                h = (orjson.loads(value).get("histograms") or {}).get(HISTOGRAM)
                if isinstance(h, list) and len(h) > SUMMARY:
                    n, total = out.get(inp.dims[2], (0, []))
                    buckets = h[:-SUMMARY]
                    if len(buckets) > len(total):
                        total.extend([0] * (len(buckets) - len(total)))
                    for i, c in enumerate(buckets):
                        total[i] += c
                    out[inp.dims[2]] = (n + 1, total)
    return out, nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=8000,
                        help="store size (8000: ~290 MB, so a job's start-up is amortised "
                             "as on real stores; built once into bench/results/cache)")
    parser.add_argument("--dask", action="store_true",
                        help="also the Dask runner on a 2-worker LocalCluster")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mr-"))
    cluster = client = None
    try:
        started = time.perf_counter()
        store = cached_store(args.pings)
        inputs = select_inputs(store)
        compressed = sum(i.size for i in inputs)
        _, raw = floor("count", inputs)
        print(f"store: {args.pings} pings, {len(inputs)} files, {raw / MB:.1f} MB "
              f"uncompressed ({compressed / MB:.1f} MB zstd-1), ready in "
              f"{time.perf_counter() - started:.1f} s")
        if args.dask:
            import dask
            from dask.distributed import Client, LocalCluster

            from appliance.mr.dask_runner import DaskRunner

            # an idle cluster's profiler and ticks would slow the cases beside it
            # (MAPREDUCE.md: 17% of a core, 2.5% with these settings)
            dask.config.set({"distributed.worker.profile.enabled": False,
                             "distributed.admin.tick.interval": "1s",
                             "distributed.admin.system-monitor.interval": "5s"})
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None)
            client = Client(cluster)
        out_dir = tmp / "out"
        out_dir.mkdir()
        tables, ratios = {}, {}
        for job, script in JOBS.items():
            def floor_case(job=job) -> dict:
                t0 = time.perf_counter()
                result, nbytes = floor(job, inputs)
                return {"mbs": nbytes / MB / (time.perf_counter() - t0)}

            def runner_case(mappers: int, script=script, job=job) -> dict:
                out = out_dir / f"{job}-{mappers}.out"
                t0 = time.perf_counter()
                summary = LocalRunner(script, inputs, out, mappers=mappers,
                                      work_dir=tmp).run()
                elapsed = time.perf_counter() - t0
                assert summary.data_bytes == raw and summary.errors == 0, summary
                return {"mbs": raw / MB / elapsed}

            cases = {"floor (1 process)": floor_case,
                     "LocalRunner 1 mapper": lambda: runner_case(1),
                     "LocalRunner 2 mappers": lambda: runner_case(2)}
            if args.dask:
                def dask_case(script=script, job=job) -> dict:
                    out = out_dir / f"{job}-dask.out"
                    t0 = time.perf_counter()
                    DaskRunner(script, inputs, out, scheduler=client).run()
                    return {"mbs": raw / MB / (time.perf_counter() - t0)}
                cases["DaskRunner 2 workers"] = dask_case
            results = interleaved(cases)
            table = {name: spread([r["mbs"] for r in runs]) for name, runs in results.items()}
            tables[job] = table
            base = table["floor (1 process)"]["median"]
            ratios[job] = {name: row["median"] / base for name, row in table.items()}
            if job == "count":  # the runner's answer is the floor's
                got = (out_dir / "count-2.out").read_text().split()
                assert int(got[-1]) == args.pings, got
    finally:
        if client is not None:
            client.close()
            cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("MB/s of uncompressed input; medians of 3 interleaved rounds (min-max)")
    print(f"{'job':22} {'case':24} {'MB/s':>20} {'vs floor':>9}")
    met = True
    for job, table in tables.items():
        for name, row in table.items():
            r = ratios[job][name]
            print(f"{job:22} {name:24} {row['median']:8.1f} ({row['min']:.1f}-{row['max']:.1f})"
                  f" {r:8.2f}x")
        met &= ratios[job]["LocalRunner 1 mapper"] >= 0.9
        met &= ratios[job]["LocalRunner 2 mappers"] >= 1.7
    print(f"targets (1 mapper >= 0.9x, 2 mappers >= 1.7x floor): {'met' if met else 'not met'}")
    path = save("mapreduce", {"pings": args.pings, "megabytes": raw / MB,
                              "files": len(inputs), "tables": tables, "ratios": ratios,
                              "targets_met": met})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
