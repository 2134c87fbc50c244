"""GET /metrics: the admin stats in Prometheus text format.

A custom collector reads `NodeView.stats()` (a Deferred: the spool is listed
off the reactor thread) and the ledger at scrape time, so /metrics and
/v1/stats report the same numbers with no second bookkeeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from appliance.admin.nodestats import LatencySummary, NodeStats

if TYPE_CHECKING:  # only for the annotations: view.py needs Twisted, this module does not
    from twisted.internet.defer import Deferred

    from appliance.admin.view import NodeView


def _gauge(name: str, doc: str, value: float | None,
           labels: dict[str, str] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), float(value or 0))
    return family


def _counter(name: str, doc: str, value: float | None) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=float(value or 0))


def _by_label(factory: type[GaugeMetricFamily] | type[CounterMetricFamily], name: str,
              doc: str, label: str, values: Mapping[str, float]) -> Metric:
    family = factory(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], float(value or 0))
    return family


def _latency(name: str, doc: str, summary: LatencySummary) -> SummaryMetricFamily:
    """A Prometheus summary: _count, _sum and the p50/p99 of recent observations."""
    family = SummaryMetricFamily(name, doc, count_value=summary["count"],
                                 sum_value=summary["total_seconds"])
    for q, key in (("0.5", "p50"), ("0.99", "p99")):
        value = summary[key]  # type: ignore[literal-required]  # key is "p50" or "p99"
        if value is not None:
            family.add_sample(name, {"quantile": q}, value)
    return family


def ledger_totals(days: list[dict[str, Any]]) -> dict[str, int]:
    """Pending and mismatch totals over the ledger's days."""
    pending_conversion = sum(d["pending_conversion"] for d in days)
    pending_export = sum(d["pending_export"] for d in days)
    mismatch = 0
    for d in days:
        out = d["converted"] + sum(d["invalid"].values())
        mismatch += abs(d["accepted"] - out - d["pending_conversion"])
        mismatch += abs(out - d["exported"] - d["pending_export"])
    return {"pending_conversion": pending_conversion, "pending_export": pending_export,
            "mismatch": mismatch,
            "unreconciled_days": sum(1 for d in days if not d["reconciled"])}


class StatsCollector:
    """A prometheus_client collector over one NodeView.stats() result and the ledger."""

    def __init__(self, view: NodeView, stats: NodeStats):
        self.view = view
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        ingest, spool = s["ingest"], s["spool"]
        converter, export = s["converter"], s["export"]
        info = InfoMetricFamily("appliance", "Version and node of this appliance")
        info.add_metric([], {"version": s["version"], "node_id": s["node_id"],
                             "node_label": s["node_label"]})
        yield info
        yield _gauge("appliance_uptime_seconds", "Seconds since the server started",
                     s["uptime_seconds"])
        yield _gauge("appliance_healthy", "1 when there is no health problem", s["health"]["ok"])
        yield _gauge("appliance_health_problems", "Health problems now",
                     len(s["health"]["problems"]))
        yield _by_label(CounterMetricFamily, "appliance_requests", "Requests answered, by status",
                        "status", ingest["requests_by_status"])
        yield _by_label(CounterMetricFamily, "appliance_submissions_by_form",
                        "Submissions by URL form", "form", ingest["requests_by_form"])
        yield _counter("appliance_received_bytes", "Request body bytes received",
                       ingest["bytes_received"])
        yield _gauge("appliance_open_connections", "Open client connections",
                     ingest["open_connections"])
        yield _latency("appliance_request_latency_seconds",
                            "Request latency (recent requests)", ingest["latency_seconds"])
        yield _counter("appliance_spool_records", "Records made durable", spool["records"])
        yield _counter("appliance_spool_bytes", "Bytes made durable", spool["bytes"])
        yield _counter("appliance_spool_batches", "Group commits", spool["batches"])
        yield _counter("appliance_spool_segments_sealed", "Segments sealed",
                       spool["segments_sealed"])
        yield _by_label(CounterMetricFamily, "appliance_spool_errors", "Spool write errors",
                        "error", spool["errors"])
        yield _latency("appliance_spool_fsync_seconds", "fdatasync latency",
                            spool["fsync_seconds"])
        yield _gauge("appliance_spool_sealed_segments", "Sealed segments awaiting conversion",
                     spool["sealed_segments"])
        yield _gauge("appliance_spool_oldest_sealed_age_seconds",
                     "How long the oldest sealed segment has waited",
                     spool["oldest_sealed_age_seconds"])
        yield _gauge("appliance_converter_running", "1 while the converter child runs",
                     converter.get("running"))
        yield _counter("appliance_converter_restarts", "Converter restarts",
                       converter.get("restarts"))
        yield _counter("appliance_converter_converted", "Records converted (this run)",
                       converter.get("converted"))
        yield _gauge("appliance_converter_paused", "1 while the converter waits for disk space",
                     1 if converter.get("paused") else 0)
        yield _counter("appliance_converter_quarantined",
                       "Records quarantined after crashing the converter",
                       converter.get("quarantined"))
        yield _by_label(CounterMetricFamily, "appliance_converter_invalid",
                        "Records kept as invalid (this run), by reason", "reason",
                        converter.get("invalid_by_reason", {}))
        yield _gauge("appliance_export_enabled", "1 when export is on", export.get("enabled"))
        yield _gauge("appliance_export_backlog_files", "Local files waiting for export",
                     export.get("backlog_files"))
        yield _gauge("appliance_export_backlog_bytes", "Bytes waiting for export",
                     export.get("backlog_bytes"))
        yield _gauge("appliance_export_lag_seconds", "Age of the oldest file waiting",
                     export.get("lag_seconds"))
        yield _counter("appliance_export_uploaded_files", "Files exported",
                       export.get("uploaded_files"))
        yield _counter("appliance_export_uploaded_bytes", "Bytes uploaded",
                       export.get("uploaded_bytes"))
        yield _by_label(CounterMetricFamily, "appliance_export_errors", "Export errors by kind",
                        "kind", export.get("errors", {}))
        yield _gauge("appliance_export_failing", "1 while S3 cannot be used",
                     bool(export.get("problem")))
        disk = s["disk"]
        yield _gauge("appliance_disk_free_bytes", "Free bytes in the data dir's file system",
                     disk["free_bytes"])
        yield _gauge("appliance_disk_total_bytes", "Size of the data dir's file system",
                     disk["total_bytes"])
        yield _gauge("appliance_disk_watermark_bytes", "Below this, submissions get 507",
                     disk["watermark_bytes"])
        yield _counter("appliance_log_dropped_lines",
                       "Log file lines dropped (write errors, or info below the watermark)",
                       s["log"]["dropped_lines"])
        yield _gauge("appliance_store_files", "Files in the local store", s["store"]["files"])
        yield _gauge("appliance_store_bytes", "Bytes in the local store", s["store"]["bytes"])
        jobs = {k: v for k, v in s["jobs"].items() if k != "enabled" and isinstance(v, int)}
        yield _by_label(GaugeMetricFamily, "appliance_jobs", "Jobs by state", "state", jobs)
        yield from self._ledger()

    def _ledger(self) -> Iterator[Metric]:
        ledger = self.view.server.ledger
        totals = ledger_totals(ledger.days if ledger is not None else [])
        yield _gauge("appliance_ledger_pending_conversion_records",
                     "Accepted records not yet converted", totals["pending_conversion"])
        yield _gauge("appliance_ledger_pending_export_records",
                     "Converted records in the local store not yet exported",
                     totals["pending_export"])
        yield _gauge("appliance_ledger_mismatch_records",
                     "Records by which the ledger's days fail to balance",
                     totals["mismatch"])
        yield _gauge("appliance_ledger_unreconciled_days", "Days that do not reconcile",
                     totals["unreconciled_days"])


def metrics_renderer(view: NodeView) -> Callable[[], Deferred[bytes]]:
    """A function returning (a Deferred firing with) the exposition bytes, for
    AdminResource."""
    def render(stats: NodeStats) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(StatsCollector(view, stats))
        return generate_latest(registry)

    return lambda: view.stats().addCallback(render)
