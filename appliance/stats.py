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
from typing import Any, Required, TypedDict


class LatencySummary(TypedDict):
    """Recent durations: how many in all, their sum, and p50/p99 (None before the first)."""

    count: int
    total_seconds: float
    p50: float | None
    p99: float | None


class IngestCounters(TypedDict):
    """/v1/stats "ingest"."""

    requests_by_status: dict[str, int]  # status code (as text) -> requests answered
    requests_by_form: dict[str, int]
    bytes_received: int
    latency_seconds: LatencySummary
    open_connections: int


class SpoolCounters(TypedDict):
    """/v1/stats "spool": the writer's counters (NodeView adds the sealed segments)."""

    records: int
    bytes: int
    batches: int
    segments_sealed: int
    reappends: int
    errors: dict[str, int]
    fsync_seconds: LatencySummary


class ConverterCounters(TypedDict, total=False):
    """/v1/stats "converter": the child's `ConverterCounts` (none before its first report),
    and whether it runs."""

    running: Required[bool]
    restarts: Required[int]
    records: int
    converted: int
    invalid: int
    duplicates: int
    damaged_regions: int
    commits: int
    files: int
    segments_done: int
    bytes_in: int
    idle: bool
    paused: str | None
    quarantined: int
    last_quarantined: str | None
    invalid_by_reason: dict[str, int]
    unknown_histograms: dict[str, int]


class ExportCounters(TypedDict, total=False):
    """/v1/stats "export": only `enabled` while export is off."""

    enabled: Required[bool]
    bucket: str
    backlog_files: int
    backlog_bytes: int
    lag_seconds: float
    in_flight: int
    uploaded_files: int
    uploaded_bytes: int
    already_there: int
    throughput_bytes_per_second: float
    errors: dict[str, int]
    last_error: str | None
    problem: str | None
    held: str | None


class CounterSnapshot(TypedDict):
    """`Stats.snapshot()`: the part of /v1/stats this module keeps."""

    uptime_seconds: float
    ingest: IngestCounters
    spool: SpoolCounters
    converter: dict[str, Any]  # the converter child's last report, as it came
    export: ExportCounters


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

    def summary(self) -> LatencySummary:
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
        self.converter: dict[str, Any] = {}
        self.export: ExportCounters = {"enabled": False}

    def snapshot(self) -> CounterSnapshot:
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
            "export": self.export.copy(),
        }
