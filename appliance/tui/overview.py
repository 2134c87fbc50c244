"""The overview: is the node healthy and keeping up?"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from appliance.admin.nodestats import ExportCounters, NodeStats
from appliance.jobs.states import ACTIVE, JobState
from appliance.tui.feed import Update
from appliance.tui.gauge import Gauge
from appliance.tui.screen import DashboardScreen
from appliance.units import human_bytes, human_count, human_rate, human_seconds

# Active jobs first: they are what the operator watches.
JOB_ORDER = (JobState.RUNNING, JobState.QUEUED, JobState.SUCCEEDED, JobState.FAILED,
             JobState.CANCELLED, JobState.TIMED_OUT)


def _panel(title: str, *children: Widget, id: str) -> Vertical:
    panel = Vertical(*children, id=id, classes="panel")
    panel.border_title = title
    return panel


class OverviewScreen(DashboardScreen):
    """Ingest rates and latency, spool and disk, converter, export and jobs at a glance."""

    CSS_PATH = "overview.tcss"

    def body(self) -> ComposeResult:
        with Vertical(id="overview"):
            yield _panel(
                "Ingest",
                Horizontal(Static(markup=False, id="req-rate", classes="rate"),
                           Sparkline(id="req-spark"), classes="spark-row graph"),
                Horizontal(Static(markup=False, id="byte-rate", classes="rate"),
                           Sparkline(id="byte-spark"), classes="spark-row graph"),
                Static(markup=False, id="statuses"),
                Static(markup=False, id="latency"),
                id="ingest")
            with Horizontal(classes="panel-row", id="row-storage"):
                yield _panel("Storage", Gauge("spool", id="spool-gauge"),
                             Gauge("disk", id="disk-gauge"),
                             Static(markup=False, id="storage-text"), id="storage")
                yield _panel("Converter",
                             Horizontal(Static(markup=False, id="conv-rate", classes="rate"),
                                        Sparkline(id="conv-spark"), classes="spark-row"),
                             Static(markup=False, id="conv-text"), id="converter")
            with Horizontal(classes="panel-row", id="row-export"):
                yield _panel("Export", Static(markup=False, id="export-text"), id="export")
                yield _panel("Jobs", Static(markup=False, id="jobs-text"), id="jobs")

    def show(self, update: Update) -> None:
        if update.stats is None:
            return
        stats = update.stats
        self._show_ingest(stats, update)
        self._show_storage(stats)
        self._show_converter(stats, update)
        self._show_export(stats["export"])
        counts = stats["jobs"]
        self.query_one("#jobs-text", Static).update(
            "jobs are off on this server" if not counts["enabled"] else
            " · ".join(f"{counts.get(s, 0)} {s.replace('_', ' ')}" for s in JOB_ORDER
                       if counts.get(s) or s in ACTIVE))

    def _show_ingest(self, stats: NodeStats, update: Update) -> None:
        ingest, rates = stats["ingest"], stats["rates"]
        self.query_one("#req-rate", Static).update(f"{human_rate(rates['requests_per_s'])} req")
        self.query_one("#byte-rate", Static).update(f"{human_bytes(rates['bytes_per_s'])}/s")
        if update.series is not None:
            self.query_one("#req-spark", Sparkline).data = list(update.series.requests)
            self.query_one("#byte-spark", Sparkline).data = list(update.series.bytes)
        by_status = ingest["requests_by_status"]
        total = sum(by_status.values())
        statuses = " · ".join(f"{code} {human_count(n)}" for code, n in sorted(by_status.items()))
        self.query_one("#statuses", Static).update(
            f"{human_count(total)} requests" + (f": {statuses}" if statuses else ""))
        latency = ingest["latency_seconds"]
        self.query_one("#latency", Static).update(
            f"latency p50 {human_seconds(latency['p50'])} · "
            f"p99 {human_seconds(latency['p99'])} · "
            f"{human_count(ingest['open_connections'])} open")

    def _show_storage(self, stats: NodeStats) -> None:
        disk = stats["disk"]
        free, total = disk["free_bytes"], disk["total_bytes"]
        watermark = disk["watermark_bytes"]
        spool = stats["spool"]
        spool_size = spool["size_bytes"]
        if total:
            room = max(0, free - watermark)
            self.query_one("#spool-gauge", Gauge).set(
                spool_size or 0, (spool_size or 0) + room,
                f"{human_bytes(spool_size)}, {human_bytes(room)} room")
            self.query_one("#disk-gauge", Gauge).set(
                total - free, total, f"{human_bytes(free)} free", mark=total - watermark)
        store = stats["store"]
        self.query_one("#storage-text", Static).update(
            f"watermark: {human_bytes(watermark)} free · "
            f"{human_count(spool['sealed_segments'])} sealed\n"
            f"store {human_count(store['files'])} files, {human_bytes(store['bytes'])}")

    def _show_converter(self, stats: NodeStats, update: Update) -> None:
        conv = stats["converter"]
        rate = update.series.converted[-1] if update.series and update.series.converted else None
        self.query_one("#conv-rate", Static).update(f"{human_rate(rate)}")
        if update.series is not None:
            self.query_one("#conv-spark", Sparkline).data = list(update.series.converted)
        reasons = sorted(conv.get("invalid_by_reason", {}).items(), key=lambda kv: -kv[1])
        detail = ", ".join(f"{reason} {human_count(n)}" for reason, n in reasons[:3])
        state = " (idle)" if conv.get("idle") else ""
        # Records a spec can still fix: say how (docs/conversion.md, "Installing them").
        fixable = any(conv.get("invalid_by_reason", {}).get(r)
                      for r in ("unknown_revision", "spec_unavailable"))
        self.query_one("#conv-text", Static).update(
            f"{human_count(conv.get('converted', 0))} converted{state} · "
            f"{human_count(conv.get('invalid', 0))} invalid" + (f"\n{detail}" if detail else "")
            + ("\nfixable: specs add, then reconvert" if fixable else ""))

    def _show_export(self, export: ExportCounters) -> None:
        text = self.query_one("#export-text", Static)
        if not export["enabled"]:
            text.update("export is off ([export] not configured)")
            return
        errors = sum(export.get("errors", {}).values())
        lines = [
            f"backlog {human_count(export.get('backlog_files', 0))} files, "
            f"{human_bytes(export.get('backlog_bytes', 0))} · lag "
            f"{human_seconds(export.get('lag_seconds'))}",
            f"{human_bytes(export.get('throughput_bytes_per_second'))}/s · "
            f"{human_count(export.get('uploaded_files', 0))} uploaded · "
            f"{human_count(errors)} errors",
        ]
        content = Text("\n".join(lines))
        if export.get("problem"):
            content.append(f"\n{export['problem']}", style="bold red")
        text.update(content)
