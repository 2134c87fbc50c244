"""The shape of GET /v1/stats, shared by its producer (view.py) and every reader: /metrics,
`appliance status`, the dashboard and the tests' fake client.

TypedDicts rather than classes: the JSON stays exactly what it was, and the type
checker (`make test` runs mypy) fails on a key that a reader uses and the
producer does not write. The counters kept by `Stats` are defined beside it
(appliance/stats.py) and reused here.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict

from appliance.stats import (
    ConverterCounters,
    ExportCounters,
    IngestCounters,
    LatencySummary,
    SpoolCounters,
)

__all__ = ["ConverterCounters", "DiskStats", "ExportCounters", "Health", "IngestCounters",
           "JobCounts", "LatencySummary", "LogStats", "NodeStats", "Rates", "SpoolBacklog",
           "SpoolStats", "StoreStats"]


class SpoolBacklog(TypedDict):
    """The spool on disk: sealed segments waiting for the converter, and its size."""

    sealed_segments: int
    oldest_sealed_age_seconds: float | None
    size_bytes: int


class SpoolStats(SpoolCounters, SpoolBacklog):
    """/v1/stats "spool": the writer's counters and the segments waiting on disk."""


class Health(TypedDict):
    """What an operator must look at, most urgent first; ok when there is nothing."""

    ok: bool
    problems: list[str]


class DiskStats(TypedDict):
    """The data dir's file system and the free-space watermark (`low`: why it is below)."""

    free_bytes: int
    total_bytes: int
    watermark_bytes: int
    low: str | None


class LogStats(TypedDict):
    """The log file: lines dropped and the current write error."""

    dropped_lines: int
    failing: str | None


class StoreStats(TypedDict):
    """The local store, as of the ledger's last scan."""

    files: int
    bytes: int
    records: int


class JobCounts(TypedDict, total=False):
    """Jobs per state (appliance.jobs.states.JobState); only `enabled` when jobs are off."""

    enabled: Required[bool]
    queued: int
    running: int
    succeeded: int
    failed: int
    cancelled: int
    timed_out: int


class Rates(TypedDict):
    """Per second over the last history interval."""

    requests_per_s: float
    bytes_per_s: float


class NodeStats(TypedDict):
    """GET /v1/stats (docs/admin-api.md)."""

    version: str
    node_id: str
    node_label: str
    node_registry: dict[str, Any] | None
    time: float
    uptime_seconds: float
    ingest: IngestCounters
    spool: SpoolStats
    converter: ConverterCounters
    export: ExportCounters
    health: Health
    disk: DiskStats
    log: LogStats
    store: StoreStats
    jobs: JobCounts
    rates: Rates
