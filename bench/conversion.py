"""Conversion: RecordConverter.convert on generated gzip pings vs an orjson and a json floor.

The appliance side is the whole per-record pipeline of the converter
(`RecordConverter.convert`: route parsing, gunzip with a size limit, orjson,
histogram conversion against the spec, partitioning, line serialisation),
measured three ways: as it runs (the text path, appliance/convert/textpath.py,
which converts the histograms from the JSON text); with the text path switched
off (orjson parses the whole ping, then the compiled `rows_json` writes the
rows: the conversion before the text path); and in pure Python (both switched
off, as on a machine where the extension could not be built).
The floors are `orjson.loads(gunzip(body))` + `orjson.dumps` of the same
documents (the least any converter must do) and the same with the stdlib's
json. One process, one thread: pings/s is per core (CPU seconds are reported
too). Interleaved rounds (3 by default), medians with min-max.
Target (issue 12): appliance/floor orjson >= 0.9 by pings per CPU second.

Run: `make bench` or `.venv/bin/python -m bench.conversion [--pings N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gzip
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from appliance.convert import rowsjson, textpath
from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.storage.schema import Schema
from bench.common import interleaved, save, spread
from bench.payloads import REVISION_HASH, PingGenerator

MB = 1e6
TARGET = 0.9


def measure(work, count: int, nbytes: int) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"pings_s": count / wall, "pings_cpu_s": count / cpu, "mbs": nbytes / MB / wall}


# case -> what it switches off: the text path, and the compiled rows_json as well
CASES = {"compiled": (), "dict": ("text",), "python": ("text", "rows")}
NAMES = {"compiled": "appliance convert", "dict": "appliance, no text path",
         "python": "appliance pure Python"}


@contextlib.contextmanager
def switched(case: str):
    """Conversion with the parts of the compiled path that `case` does without."""
    off = CASES.get(case, ())
    start, compiled = textpath.histograms_start, rowsjson._compiled
    if "text" in off:
        textpath.histograms_start = None  # type: ignore[assignment]
    if "rows" in off:
        rowsjson._compiled = None  # type: ignore[assignment]
    try:
        yield
    finally:
        textpath.histograms_start, rowsjson._compiled = start, compiled


def workload(count: int, spec_dir: Path) -> tuple[list[bytes], list[SpoolRecord],
                                                  RecordConverter]:
    """`count` generated gzip pings, as bodies and as spool records, and a converter
    whose spec (written into `spec_dir`) they are valid for."""
    gen = PingGenerator(1)
    bodies = [gen.gzip_bytes(i) for i in range(count)]
    ids = RecordIds()
    records = [SpoolRecord(ids.next(), 1_795_000_000 * 10**9, f"/submit/telemetry/d{i}", b,
                           {"Content-Encoding": "gzip"}) for i, b in enumerate(bodies)]
    (spec_dir / f"{REVISION_HASH}.Histograms.json").write_text(json.dumps(gen.spec))
    converter = RecordConverter(SpecStore(spec_dir), Schema.telemetry_default(),
                                max_decompressed_bytes=10 << 20)
    first = converter.convert(records[0])
    assert first.invalid_reason is None, first.line[:300]
    return bodies, records, converter


def arguments(doc: str, pings: int, rounds: int) -> argparse.Namespace:
    """The command line of a conversion benchmark: --pings and --rounds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--pings", type=int, default=pings)
    parser.add_argument("--rounds", type=int, default=rounds)
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__, pings=400, rounds=3)
    with tempfile.TemporaryDirectory() as tmp:
        bodies, records, converter = workload(args.pings, Path(tmp))
        raw = sum(len(gzip.decompress(b)) for b in bodies)

        def appliance(case):
            with switched(case):
                for r in records:
                    result = converter.convert(r)
                    assert result.invalid_reason is None

        def floor_json():
            for b in bodies:
                json.dumps(json.loads(gzip.decompress(b)))

        def floor_orjson():
            for b in bodies:
                orjson.dumps(orjson.loads(gzip.decompress(b)))

        works: dict[str, Callable[[], None]] = {
            NAMES[case]: functools.partial(appliance, case) for case in CASES}
        works.update({"floor orjson": floor_orjson, "floor json": floor_json})
        cases: dict[str, Callable[[], dict]] = {
            name: functools.partial(measure, work, len(records), raw)
            for name, work in works.items()}
        if not rowsjson.COMPILED:
            print("the compiled fast path is not built: every appliance row is pure Python")
        results = interleaved(cases, args.rounds)
    table = {name: {k: spread([r[k] for r in runs]) for k in runs[0]}
             for name, runs in results.items()}

    def ratio(case: str, floor: str, key: str = "pings_s") -> float:
        return table[case][key]["median"] / table[floor][key]["median"]

    ratios = {f"{case}/{floor}": ratio(case, floor)
              for case in NAMES.values() for floor in ("floor orjson", "floor json")}
    cpu_ratios = {f"{case}/floor orjson": ratio(case, "floor orjson", "pings_cpu_s")
                  for case in NAMES.values()}
    print(f"{args.pings} generated gzip pings, {raw / args.pings / 1000:.0f} KB JSON / "
          f"{sum(map(len, bodies)) / args.pings / 1000:.1f} KB gzip each on average; "
          f"one core; medians of {args.rounds} interleaved rounds (min-max)")
    print(f"{'case':24} {'pings/s':>22} {'pings/CPU-s':>22} {'MB/s JSON':>20}")
    for name, row in table.items():
        def cell(k, row=row, fmt="{:.0f}"):
            return (f"{fmt.format(row[k]['median'])} ({fmt.format(row[k]['min'])}-"
                    f"{fmt.format(row[k]['max'])})")
        print(f"{name:24} {cell('pings_s'):>22} {cell('pings_cpu_s'):>22} "
              f"{cell('mbs', fmt='{:.1f}'):>20}")
    for name, value in ratios.items():
        print(f"{name}: {value:.2f} (pings/CPU-s: {cpu_ratios[name]:.2f})"
              if name in cpu_ratios else f"{name}: {value:.2f}")
    met = cpu_ratios["appliance convert/floor orjson"] >= TARGET
    print(f"target appliance/floor orjson >= {TARGET} (pings/CPU-s): "
          f"{'met' if met else 'not met'}")
    path = save("conversion", {"pings": args.pings, "json_bytes": raw, "rounds": args.rounds,
                               "compiled": rowsjson.COMPILED, "table": table, "ratios": ratios,
                               "cpu_ratios": cpu_ratios, "target_met": met})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
