"""A short history of the node's counters at 1 s resolution, for graphs (GET /v1/history).

A client that attaches late still draws the last minutes: the server samples
its counters every `interval` seconds into a ring of `size` samples.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from appliance.admin.nodestats import Rates
from appliance.stats import CounterSnapshot


def counters_sample(snapshot: CounterSnapshot, disk_free_bytes: int) -> dict[str, float]:
    """The fields of one history sample, taken from a Stats snapshot."""
    ingest, spool = snapshot["ingest"], snapshot["spool"]
    converter, export = snapshot["converter"], snapshot["export"]
    by_status = ingest["requests_by_status"]
    latency = ingest["latency_seconds"]
    return {
        "requests": sum(by_status.values()),
        "requests_ok": by_status.get("200", 0),
        "bytes": ingest["bytes_received"],
        "p50": latency["p50"],
        "p99": latency["p99"],
        "spool_bytes": spool["bytes"],
        "disk_free_bytes": disk_free_bytes,
        "converted": converter.get("converted", 0),
        "invalid": converter.get("invalid", 0),
        "export_backlog_files": export.get("backlog_files", 0),
        "export_backlog_bytes": export.get("backlog_bytes", 0),
        "exported_files": export.get("uploaded_files", 0),
    }


class History:
    """Samples `sample()` every `interval` seconds on `clock`, keeping the last `size`."""

    def __init__(self, sample: Callable[[], dict[str, float]], clock: IReactorTime,
                 wall: Callable[[], float], *,
                 size: int = 900, interval: float = 1.0):
        self._sample = sample
        self._wall = wall
        self.interval = interval
        self.samples: deque[dict[str, float]] = deque(maxlen=size)
        self._loop = LoopingCall(self.take)
        self._loop.clock = clock

    def take(self) -> None:
        """Add one sample now."""
        self.samples.append({"t": self._wall(), **self._sample()})

    def start(self) -> None:
        self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def as_dict(self) -> dict[str, Any]:
        return {"interval_seconds": self.interval, "samples": list(self.samples)}

    def rates(self) -> Rates:
        """Requests and bytes per second over the last sampling interval."""
        if len(self.samples) < 2:
            return {"requests_per_s": 0.0, "bytes_per_s": 0.0}
        a, b = self.samples[-2], self.samples[-1]
        span = (b["t"] - a["t"]) or self.interval
        return {"requests_per_s": (b["requests"] - a["requests"]) / span,
                "bytes_per_s": (b["bytes"] - a["bytes"]) / span}
