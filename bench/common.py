"""What every benchmark shares: interleaved repeated runs, medians, result files."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(cases: dict[str, Callable[[], dict]], runs: int = 3) -> dict[str, list[dict]]:
    """Run every case once per round (A/B/A/B...), `runs` rounds; results per case."""
    out: dict[str, list[dict]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():
            out[name].append(case())
    return out


def spread(values: list[float]) -> dict:
    """Median with min and max."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def timed(f: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = f()
    return time.perf_counter() - started, result


def save(name: str, payload: dict) -> Path:
    """Write bench/results/<name>-<timestamp>.json with the machine it ran on."""
    RESULTS.mkdir(exist_ok=True)
    payload = {"benchmark": name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "processor": platform.processor()}, **payload}
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    path.write_text(json.dumps(payload, indent=1))
    return path
