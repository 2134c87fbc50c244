"""The server's counters of ingest and the spool, and the latest reports of the converter
and the exporter, kept in one object on the reactor thread.

The admin API's /v1/stats (admin/view.py adds the node, disk, log, store, jobs, rates and
health), /metrics, `appliance status` and the dashboard read `snapshot()`.
Counters are updated only on the reactor thread (receiver children and the
converter child report through the server's process), so no locking is needed.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable


class Samples:
    """The most recent N observations of a duration, for percentiles."""

    def __init__(self, size: int = 4096):
        self._values: deque[float] = deque(maxlen=size)
        self.count = 0
        self.total = 0.0

    def add(self, value: float) -> None:
        self._values.append(value)
        self.count += 1
        self.total += value

    def recent(self, n: int) -> list[float]:
        """The last `n` observations kept, oldest first."""
        return list(self._values)[-n:] if n > 0 else []

    def merge(self, values: list[float], count: int, total: float) -> None:
        """Add another process's `count` observations summing to `total`, `values` kept."""
        self._values.extend(values)
        self.count += count
        self.total += total

    def percentile(self, p: float) -> float | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict:
        return {"count": self.count, "total_seconds": self.total,
                "p50": self.percentile(50), "p99": self.percentile(99)}


class Stats:
    """Counters for ingest and the spool; the converter's and the exporter's last reports."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self.started_at = clock()
        self.requests_by_status: Counter[int] = Counter()
        self.requests_by_form: Counter[str] = Counter()
        self.bytes_received = 0
        self.request_latency = Samples()
        self.spool_records = 0
        self.spool_bytes = 0
        self.spool_batches = 0
        self.spool_segments_sealed = 0
        self.spool_reappends = 0
        self.spool_errors: Counter[str] = Counter()
        self.fsync_latency = Samples()
        self.open_connections = 0
        self.converter: dict = {}
        self.export: dict = {"enabled": False}

    def snapshot(self) -> dict:
        """A JSON-ready copy of every counter."""
        return {
            "uptime_seconds": self._clock() - self.started_at,
            "ingest": {
                "requests_by_status": {str(k): v for k, v in
                                       sorted(self.requests_by_status.items())},
                "requests_by_form": dict(self.requests_by_form),
                "bytes_received": self.bytes_received,
                "latency_seconds": self.request_latency.summary(),
                "open_connections": self.open_connections,
            },
            "spool": {
                "records": self.spool_records,
                "bytes": self.spool_bytes,
                "batches": self.spool_batches,
                "segments_sealed": self.spool_segments_sealed,
                "reappends": self.spool_reappends,
                "errors": dict(self.spool_errors),
                "fsync_seconds": self.fsync_latency.summary(),
            },
            "converter": dict(self.converter),
            "export": dict(self.export),
        }
