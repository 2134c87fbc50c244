"""Where a ping's conversion spends its CPU time, stage by stage: as it runs (the
text path), without the text path, and in pure Python (docs/performance.md,
"Conversion"; the cases of bench/conversion.py).

Each stage is timed on the same generated pings as `bench/conversion.py`, in
CPU microseconds per ping, the best of `--rounds` interleaved rounds; a stage
that cannot run alone (converting needs a freshly parsed ping) is the
difference between two timings, so small figures are within the noise.
For a function-level view: `python -m cProfile -s tottime -m bench.conversion`.

Run: `.venv/bin/python -m bench.profile_conversion [--pings N] [--rounds R]`.
"""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path

import orjson

from appliance.convert.payload import convert_payload
from appliance.convert.records import decompress, serialise
from appliance.convert.textpath import convert_text
from bench.conversion import CASES, arguments, switched, workload

LIMIT = 10 << 20


def main() -> None:
    args = arguments(__doc__, pings=200, rounds=5)
    with tempfile.TemporaryDirectory() as tmp:
        bodies, records, converter = workload(args.pings, Path(tmp))
        texts = [gzip.decompress(b) for b in bodies]
        specs = converter.specs

        def converted(text: bytes):
            result = convert_text(text, specs)      # None with the text path switched off
            if result is None:
                result = convert_payload(orjson.loads(text), specs, json_rows=True)
            return result.payload

        def each(f, items):
            # Results are dropped at once: kept, they would make the GC's work grow.
            return lambda: [None for x in items if f(x) is None]

        timings = {
            "gunzip": each(lambda b: decompress(b, LIMIT), bodies),
            "parse + convert": each(converted, texts),
            "parse + convert + write": each(lambda t: serialise(converted(t), t), texts),
            "RecordConverter.convert": each(converter.convert, records),
            "floor: gunzip + parse + write": each(
                lambda b: orjson.dumps(orjson.loads(gzip.decompress(b))), bodies),
        }
        modes = list(CASES)
        best = {(mode, name): float("inf") for mode in modes for name in timings}
        for _ in range(args.rounds):
            for mode in modes:
                for name, work in timings.items():
                    with switched(mode):
                        started = time.process_time()
                        work()
                        spent = (time.process_time() - started) / len(bodies) * 1e6
                    best[mode, name] = min(best[mode, name], spent)
    print(f"CPU us per ping, best of {args.rounds} rounds, {args.pings} generated pings")
    print(f"{'stage':40}" + "".join(f"{mode:>10}" for mode in modes))
    for label, us in stages(best, modes).items():
        print(f"{label:40}" + "".join(f"{us[mode]:10.0f}" for mode in modes))


def stages(best: dict, modes) -> dict[str, dict[str, float]]:
    """The per-stage figures (differences of the measured timings) by mode."""
    out: dict[str, dict[str, float]] = {}
    for mode in modes:
        t = {name: value for (m, name), value in best.items() if m == mode}
        for label, value in (
                ("gunzip", t["gunzip"]),
                ("parse and convert histograms", t["parse + convert"]),
                ("write (orjson.dumps, checks)",
                 t["parse + convert + write"] - t["parse + convert"]),
                ("the rest (route, partition, line)", t["RecordConverter.convert"]
                 - t["gunzip"] - t["parse + convert + write"]),
                ("RecordConverter.convert, total", t["RecordConverter.convert"]),
                ("floor: gunzip + parse + write", t["floor: gunzip + parse + write"])):
            out.setdefault(label, {})[mode] = value
    return out


if __name__ == "__main__":
    main()
