"""A seeded generator of realistic v1 Telemetry pings, and the spec they are valid for.

Shaped like the real 2013 Firefox ping in ../shared/corpus/telemetry1.log:
~340 histograms of every kind, `simpleMeasurements`, `info` with varied OS,
channel, version and build id; 60-90 KB of JSON, 15-20 KB gzipped. The spec
is generated here too (not copied from anywhere), so runs need no corpus.
"""

from __future__ import annotations

import gzip
import json
import random

REVISION_HASH = "be7c40000001"
REVISION = f"http://hg.mozilla.org/releases/mozilla-release/rev/{REVISION_HASH}"
KINDS = ("exponential", "linear", "enumerated", "boolean", "flag")


def spec(seed: int = 1, count: int = 370) -> dict:
    """A Histograms.json with `count` histograms of every kind."""
    rng = random.Random(seed)
    out = {}
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        name = f"BENCH_{kind.upper()}_{i:03d}"
        if kind == "exponential":
            out[name] = {"kind": kind, "low": 1, "high": rng.choice([1000, 10000, 60000]),
                         "n_buckets": rng.choice([10, 20, 50]), "description": "bench"}
        elif kind == "linear":
            out[name] = {"kind": kind, "low": 1, "high": rng.choice([100, 1000]),
                         "n_buckets": rng.choice([10, 20, 50]), "description": "bench"}
        elif kind == "enumerated":
            out[name] = {"kind": kind, "n_values": rng.choice([5, 20, 40]),
                         "description": "bench"}
        else:
            out[name] = {"kind": kind, "description": "bench"}
    return out


def _buckets(definition: dict) -> list[int]:
    from appliance.convert.buckets import compute_buckets

    return compute_buckets(definition)


class PingGenerator:
    """Seeded pings valid for `spec()`; `ping(i)` is the same for the same seed and i."""

    def __init__(self, seed: int = 1):
        self.seed = seed
        self.spec = spec()  # one spec; the seed varies the pings
        self._buckets = {name: _buckets(d) for name, d in self.spec.items()}

    def ping(self, i: int) -> dict:
        rng = random.Random(self.seed * 1_000_003 + i)
        histograms = {}
        for name, buckets in self._buckets.items():
            if rng.random() < 0.08:
                continue  # not every histogram is in every ping
            # Like real clients: a few buckets hold most counts, small counts dominate.
            used = rng.sample(buckets, k=min(len(buckets), int(rng.expovariate(0.25)) + 1))
            values = {str(b): int(rng.expovariate(0.05)) + 1 for b in sorted(used)}
            total = sum(int(b) * c for b, c in values.items())
            histograms[name] = {"range": [buckets[1] if len(buckets) > 1 else 1, buckets[-1]],
                                "bucket_count": len(buckets), "histogram_type": 0,
                                "values": values, "sum": total,
                                "log_sum": rng.uniform(0, 5000),
                                "log_sum_squares": rng.uniform(0, 90000)}
        return {
            "ver": 1,
            "info": {
                "reason": rng.choice(["idle-daily", "saved-session"]),
                "OS": rng.choice(["WINNT", "Darwin", "Linux", "Android"]),
                "appID": "{ec8030f7-c20a-464f-9b0e-13a3a9e97384}",
                "appVersion": rng.choice(["22.0", "23.0", "23.0.1", "24.0"]),
                "appName": "Firefox",
                "appBuildID": f"201308{rng.randint(10, 30)}0{rng.randint(10000, 99999)}",
                "appUpdateChannel": rng.choice(["release", "beta", "aurora", "nightly"]),
                "platformBuildID": f"2013081{rng.randint(0, 9)}063812",
                "revision": REVISION,
                "locale": rng.choice(["en-US", "de", "fr", "ja", "pt-BR"]),
                "cpucount": rng.choice([2, 4, 8]), "memsize": rng.choice([2048, 4096, 8192]),
                "version": rng.choice(["6.1", "10.8.4", "3.10"]),
                "hasSSE2": True, "adapterVendorID": f"0x{rng.randint(0, 65535):04x}",
            },
            "simpleMeasurements": {k: rng.randint(0, 60000) for k in (
                "uptime", "main", "firstPaint", "sessionRestored", "createTopLevelWindow",
                "firstLoadURI", "startupCrashDetectionBegin", "startupCrashDetectionEnd",
                "AMI_startup_begin", "XPI_startup_begin", "delayedStartupStarted")},
            "histograms": histograms,
            "slowSQL": {"mainThread": {}, "otherThreads": {}},
        }

    def json_bytes(self, i: int) -> bytes:
        return json.dumps(self.ping(i), separators=(",", ":")).encode()

    def gzip_bytes(self, i: int) -> bytes:
        return gzip.compress(self.json_bytes(i), compresslevel=6)
