"""Conversion: RecordConverter.convert on generated gzip pings vs a json floor.

The appliance side is the whole per-record pipeline of the converter
(`RecordConverter.convert`: route parsing, gunzip with a size limit, orjson,
histogram conversion against the spec, partitioning, line serialisation). The
floor is `json.loads(gunzip(body))` + `json.dumps` of the same documents (the
least any converter written with the stdlib must do); an orjson floor is shown
for information. One process, one thread: pings/s is per core (CPU seconds
are reported too). 3 interleaved rounds, medians with min-max.
Target: appliance/floor >= 0.5.

Run: `make bench` or `.venv/bin/python -m bench.conversion [--pings N]`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

import orjson

from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.storage.schema import Schema
from bench.common import interleaved, save, spread
from bench.payloads import REVISION_HASH, PingGenerator

MB = 1e6


def measure(work, count: int, nbytes: int) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"pings_s": count / wall, "pings_cpu_s": count / cpu, "mbs": nbytes / MB / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pings", type=int, default=400)
    args = parser.parse_args()
    gen = PingGenerator(1)
    bodies = [gen.gzip_bytes(i) for i in range(args.pings)]
    ids = RecordIds()
    records = [SpoolRecord(ids.next(), 1_795_000_000 * 10**9, f"/submit/telemetry/d{i}", b,
                           {"Content-Encoding": "gzip"}) for i, b in enumerate(bodies)]
    raw = sum(len(gzip.decompress(b)) for b in bodies)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / f"{REVISION_HASH}.Histograms.json").write_text(json.dumps(gen.spec))
        converter = RecordConverter(SpecStore(Path(tmp)), Schema.telemetry_default(),
                                    max_decompressed_bytes=10 << 20)
        first = converter.convert(records[0])
        assert first.invalid_reason is None, first.line[:300]

        def appliance():
            for r in records:
                result = converter.convert(r)
                assert result.invalid_reason is None

        def floor_json():
            for b in bodies:
                json.dumps(json.loads(gzip.decompress(b)))

        def floor_orjson():
            for b in bodies:
                orjson.dumps(orjson.loads(gzip.decompress(b)))

        cases = {name: (lambda f=f: measure(f, len(records), raw)) for name, f in
                 (("appliance convert", appliance), ("floor json", floor_json),
                  ("floor orjson (info)", floor_orjson))}
        results = interleaved(cases)
    table = {name: {k: spread([r[k] for r in runs]) for k in runs[0]}
             for name, runs in results.items()}
    ratio = table["appliance convert"]["pings_s"]["median"] / \
        table["floor json"]["pings_s"]["median"]
    ratio_orjson = table["appliance convert"]["pings_s"]["median"] / \
        table["floor orjson (info)"]["pings_s"]["median"]
    print(f"{args.pings} generated gzip pings, {raw / args.pings / 1000:.0f} KB JSON / "
          f"{sum(map(len, bodies)) / args.pings / 1000:.1f} KB gzip each on average; "
          "one core; medians of 3 interleaved rounds (min-max)")
    print(f"{'case':22} {'pings/s':>22} {'pings/CPU-s':>22} {'MB/s JSON':>20}")
    for name, row in table.items():
        def cell(k, row=row, fmt="{:.0f}"):
            return (f"{fmt.format(row[k]['median'])} ({fmt.format(row[k]['min'])}-"
                    f"{fmt.format(row[k]['max'])})")
        print(f"{name:22} {cell('pings_s'):>22} {cell('pings_cpu_s'):>22} "
              f"{cell('mbs', fmt='{:.1f}'):>20}")
    print(f"appliance/floor json: {ratio:.2f} (target >= 0.5: "
          f"{'met' if ratio >= 0.5 else 'not met'}); appliance/floor orjson: {ratio_orjson:.2f}")
    path = save("conversion", {"pings": args.pings, "json_bytes": raw, "table": table,
                               "ratio": ratio, "ratio_orjson_floor": ratio_orjson,
                               "target_met": ratio >= 0.5})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
