"""Small, valid 2013-style pings and the histogram spec they need."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

REVISION = "http://hg.mozilla.org/releases/mozilla-release/rev/0123456789ab"
SPEC = {
    "GC_MS": {"kind": "linear", "low": 1, "high": 10, "n_buckets": 5, "description": "x"},
    "SAFE_MODE": {"kind": "boolean", "description": "x"},
    "OPENED": {"kind": "flag", "description": "x"},
}
DIMS = "saved-session/Firefox/23.0/release/20130814063812"


def write_spec(spec_dir: Path) -> Path:
    """Write the spec for REVISION into `spec_dir`; returns the directory."""
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "0123456789ab.Histograms.json").write_text(json.dumps(SPEC))
    return spec_dir


def ping(i: int, *, channel: str = "release") -> dict:
    """A v1 ping whose histograms are valid for SPEC."""
    return {
        "ver": 1,
        "info": {"reason": "saved-session", "appName": "Firefox", "appVersion": "23.0",
                 "appUpdateChannel": channel, "appBuildID": "20130814063812",
                 "revision": REVISION, "OS": ["WINNT", "Linux", "Darwin"][i % 3]},
        "simpleMeasurements": {"uptime": i},
        "histograms": {
            "SAFE_MODE": {"values": {"0": 1, "1": i % 2}, "sum": i % 2},
            "OPENED": {"values": {"0": 0, "1": 1}},
        },
    }


def body(i: int, **kw) -> bytes:
    """A gzipped ping body."""
    return gzip.compress(json.dumps(ping(i, **kw)).encode())
