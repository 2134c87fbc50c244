"""The counters a receiver child sends its parent: one JSON line per second.

A child's Stats count only what happened since its last report (`take`
clears them), so the parent adds each report to its own Stats (`apply`) and
its totals stay right across child restarts. Latency observations travel
as values (at most MAX_SAMPLES per report; count and total stay exact).
Records acknowledged by the child are listed by id and receive time for the
parent's accepted-records ledger. `failing` is the child's spool state now
(its writer's `failing`), so the parent's health follows each child.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from appliance.spool.record import SpoolRecord
from appliance.stats import Samples, Stats

MAX_SAMPLES = 2048
_SPOOL_COUNTERS = ("spool_records", "spool_bytes", "spool_batches", "spool_segments_sealed",
                   "spool_reappends")


class AckedRecords:
    """Collects a child's acknowledged records (the spool writer's `on_acked`)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []

    def __call__(self, records: list[SpoolRecord]) -> None:
        self.items.extend((r.record_id.hex(), r.received_ns) for r in records)


def _take_samples(samples: Samples) -> dict[str, Any]:
    return {"values": samples.recent(min(samples.count, MAX_SAMPLES)), "count": samples.count,
            "total": samples.total}


def take(stats: Stats, acked: AckedRecords, failing: str | None = None) -> bytes:
    """The report line for what `stats` counted since the last one (and the spool's
    `failing` state now); clears the counters."""
    report = {
        "failing": failing,
        "status": stats.requests_by_status, "form": stats.requests_by_form,
        "bytes_received": stats.bytes_received, "open_connections": stats.open_connections,
        "latency": _take_samples(stats.request_latency),
        "fsync": _take_samples(stats.fsync_latency),
        "errors": stats.spool_errors, "acked": acked.items,
        **{name: getattr(stats, name) for name in _SPOOL_COUNTERS},
    }
    line = json.dumps(report, separators=(",", ":")).encode() + b"\n"
    stats.requests_by_status = type(stats.requests_by_status)()
    stats.requests_by_form = type(stats.requests_by_form)()
    stats.spool_errors = type(stats.spool_errors)()
    stats.request_latency = Samples()
    stats.fsync_latency = Samples()
    stats.bytes_received = 0
    for name in _SPOOL_COUNTERS:
        setattr(stats, name, 0)
    acked.items = []
    return line


def apply(stats: Stats, report: dict[str, Any],
          on_acked: Callable[[list[SpoolRecord]], None] | None = None) -> None:
    """Add one child report to the parent's `stats` (open connections are the caller's)."""
    for status, n in report["status"].items():
        stats.requests_by_status[int(status)] += n
    stats.requests_by_form.update(report["form"])
    stats.spool_errors.update(report["errors"])
    stats.bytes_received += report["bytes_received"]
    for samples, part in ((stats.request_latency, report["latency"]),
                          (stats.fsync_latency, report["fsync"])):
        samples.merge(part["values"], part["count"], part["total"])
    for name in _SPOOL_COUNTERS:
        setattr(stats, name, getattr(stats, name) + report[name])
    if on_acked is not None and report["acked"]:
        on_acked([SpoolRecord(bytes.fromhex(rid), ns, "", b"") for rid, ns in report["acked"]])
