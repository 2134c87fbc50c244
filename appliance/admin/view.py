"""What the admin API serves, assembled from a running Server's parts (reactor thread).

`stats()` is a superset of `Stats.snapshot()` (whose keys keep their shape)
with version, node id, health, disk, store, jobs and rates; /metrics reads
the same dict, so the two never disagree. What reads the disk (listing the
spool, scanning debug pings) runs through `blocking`, off the reactor thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure

from appliance import __version__
from appliance.admin.debugpings import DebugPings
from appliance.admin.history import History, counters_sample
from appliance.admin.nodestats import (
    ConverterCounters,
    DiskStats,
    ExportCounters,
    Health,
    JobCounts,
    LogStats,
    NodeStats,
    SpoolBacklog,
    SpoolStats,
    StoreStats,
)
from appliance.admin.serverparts import ServerParts
from appliance.datadir import DataDir
from appliance.spool.segments import is_sealed_name, is_segment_name, sealed_at
from appliance.stats import CounterSnapshot
from appliance.storage.factory import schema_registry

# The converter is "behind" when the oldest sealed segment waits longer than this
# many commit periods (plus a segment's age): it commits every max_file_age.
BEHIND_FACTOR = 2.0
EXPORT_BEHIND_SECONDS = 3600.0
_Result = TypeVar("_Result")


class Blocking(Protocol):
    """Runs `f` off the reactor thread; the Deferred fires (on it) with what `f` returned."""

    def __call__(self, f: Callable[[], _Result]) -> Deferred[_Result]: ...


class NodeView:
    """Read-only views of one server for the admin API and /metrics."""

    def __init__(self, server: ServerParts, history_size: int,
                 blocking: Blocking | None = None):
        """The wall clock is the server's reactor; `blocking(f)` runs `f` off the reactor
        thread (default: the reactor's threadpool)."""
        self.server = server
        self._wall = wall = server.reactor.seconds
        self.history = History(self._sample, server.reactor, wall, size=history_size)
        data = DataDir(server.data_dir)
        self.debug = DebugPings(data.store, schema_registry(server.config), data.spool,
                                wall=wall)
        self._blocking: Blocking = blocking or (lambda f: deferToThreadPool(
            server.reactor, server.reactor.getThreadPool(), f))
        self._listing: list[Deferred[SpoolBacklog]] = []  # callers of the listing under way

    def debug_pings(self, debug_id: str | None, limit: int) -> Deferred[dict[str, Any]]:
        """GET /v1/debug/pings: the newest debug pings, after reading the store's new ones."""
        def answer(_added: int) -> dict[str, Any]:
            return {"pings": self.debug.latest(debug_id, limit),
                    "held": len(self.debug), "held_bytes": self.debug.held_bytes}
        return self._blocking(self.debug.scan).addCallback(answer)

    def _sample(self) -> dict[str, float]:
        disk = self.server.disk
        return counters_sample(self.server.stats.snapshot(), disk.free_bytes if disk else 0)

    # -- pieces --------------------------------------------------------------

    def _disk(self) -> DiskStats:
        disk, spool = self.server.disk, self.server.config.spool
        free = disk.free_bytes if disk else 0
        total = disk.total_bytes if disk else 0
        watermark = max(spool.min_free_bytes, int(total * spool.min_free_percent / 100))
        return {"free_bytes": free, "total_bytes": total, "watermark_bytes": watermark,
                "low": disk.low if disk else None}

    def _log(self) -> LogStats:
        """The log file: lines dropped (write errors, or below the watermark) and the
        current write error."""
        log_file = getattr(self.server, "log_file", None)
        if log_file is None:
            return {"dropped_lines": 0, "failing": None}
        return {"dropped_lines": log_file.dropped, "failing": log_file.failing}

    def spool_backlog(self) -> SpoolBacklog:
        """Sealed segments waiting for the converter, how long the oldest has waited, and the
        spool's size on disk (every segment). Blocking: it lists the spool (~1 ms per 100
        segments), so `stats()` runs it off the reactor thread."""
        names, size = [], 0
        root = DataDir(self.server.data_dir).spool
        try:
            entries = list(os.scandir(root))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if is_segment_name(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    size += entry.stat().st_size
                if is_sealed_name(entry.name):
                    names.append(entry.name)
        names.sort()
        oldest = max(0.0, self._wall() - sealed_at(root / names[0])) if names else None
        return {"sealed_segments": len(names), "oldest_sealed_age_seconds": oldest,
                "size_bytes": size}

    def _store(self) -> StoreStats:
        ledger = self.server.ledger
        files = ledger.local_files if ledger is not None else []
        return {"files": len(files), "bytes": sum(f.bytes for f in files),
                "records": sum(f.records for f in files)}

    def _jobs(self) -> JobCounts:
        jobs = getattr(self.server, "jobs", None)
        if jobs is None:
            return {"enabled": False}
        return cast(JobCounts, {"enabled": True, **jobs.counts()})  # a count per JobState

    def health(self, disk: DiskStats, spool_wait: SpoolBacklog, export: ExportCounters,
               log: LogStats | None = None) -> Health:
        """{"ok", "problems"}: what an operator must look at, most urgent first."""
        server, problems = self.server, []
        if disk["low"]:
            problems.append(disk["low"])
        for part in (server.writer, getattr(server, "receivers", None)):
            if part is not None and part.failing:
                problems.append(f"spool writes failing (fsync/write errors): {part.failing}")
        if log and log["failing"]:
            problems.append(f"log file failing: {log['failing']} "
                            f"({log['dropped_lines']} lines dropped so far)")
        receiver = server.config.receiver
        slots = receiver.max_connections * receiver.processes
        if server.stats.open_connections >= slots:
            problems.append(f"public port saturated: {server.stats.open_connections} connections "
                            f"open, every slot taken ([receiver] max_connections "
                            f"{receiver.max_connections} per process); new clients get 503")
        converter = server.converter
        if server.config.converter.enabled and converter is not None and not converter.running:
            problems.append(f"converter not running (restarted {converter.restarts} times; "
                            f"see the log)")
        if converter is not None and converter.paused:
            problems.append(f"converter paused: {converter.paused}")
        store = server.config.store
        limit = BEHIND_FACTOR * store.max_file_age + server.config.spool.max_segment_age
        age = spool_wait["oldest_sealed_age_seconds"]
        if age is not None and age > limit:
            problems.append(f"converter behind: the oldest sealed spool segment has waited "
                            f"{age:.0f} s (more than {limit:.0f} s)")
        if export.get("problem"):
            problems.append(f"export failing: {export['problem']}")
        elif export.get("lag_seconds", 0) > EXPORT_BEHIND_SECONDS:
            problems.append(f"export behind: the oldest local file has waited "
                            f"{export['lag_seconds']:.0f} s"
                            + (f" (last error: {export['last_error']})"
                               if export.get("last_error") else ""))
        if server.ledger is not None:
            problems.extend(server.ledger.alerts)
        if server.registry is not None and server.registry.problem:
            problems.append(server.registry.problem)
        return {"ok": not problems, "problems": problems}

    # -- endpoints -----------------------------------------------------------

    def stats(self) -> Deferred[NodeStats]:
        """GET /v1/stats: the spool is listed off the reactor thread, the rest read on it."""
        return self._spool_listed().addCallback(self._stats)

    def _spool_listed(self) -> Deferred[SpoolBacklog]:
        """spool_backlog(), run off the reactor thread; calls made while a listing is under
        way share it, so that many dashboards polling at once list the spool once."""
        waiter: Deferred[SpoolBacklog] = Deferred()
        self._listing.append(waiter)
        if len(self._listing) == 1:
            self._blocking(self.spool_backlog).addBoth(self._listed)
        return waiter

    def _listed(self, result: SpoolBacklog | Failure) -> None:
        waiting, self._listing = self._listing, []
        for waiter in waiting:
            if isinstance(result, Failure):
                waiter.errback(result)
            else:
                waiter.callback(result)

    def _stats(self, spool_wait: SpoolBacklog) -> NodeStats:
        server = self.server
        snapshot: CounterSnapshot = server.stats.snapshot()
        disk = self._disk()
        log = self._log()
        spool: SpoolStats = {**snapshot["spool"], **spool_wait}
        # The converter child's report comes as it sent it (its ConverterCounts).
        converter = cast(ConverterCounters, {
            **snapshot["converter"],
            "running": bool(server.converter and server.converter.running),
            "restarts": server.converter.restarts if server.converter else 0})
        return {
            "version": __version__,
            "node_id": server.node_id,
            "node_label": server.node_label,
            "node_registry": server.registry.describe() if server.registry else None,
            "time": self._wall(),
            "uptime_seconds": snapshot["uptime_seconds"],
            "ingest": snapshot["ingest"],
            "spool": spool,
            "converter": converter,
            "export": snapshot["export"],
            "health": self.health(disk, spool_wait, snapshot["export"], log),
            "disk": disk,
            "log": log,
            "store": self._store(),
            "jobs": self._jobs(),
            "rates": self.history.rates(),
        }

    def partitions(self) -> dict[str, Any]:
        """GET /v1/partitions: local partitions (from the ledger's last store scan) and
        exported ones (from the export journal; S3 is never listed per request)."""
        ledger = self.server.ledger
        local: dict[str, list[int]] = {}
        exported: dict[str, list[Any]] = {}
        computed_at = None
        if ledger is not None:
            computed_at = ledger.computed_at
            for f in ledger.local_files:
                row = local.setdefault(f.partition, [0, 0, 0])
                row[0] += 1
                row[1] += f.records
                row[2] += f.bytes
            exported, _ = ledger.exported.snapshot()

        def rows(table: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
            return [{"key": key, "files": v[0], "records": v[1], "bytes": v[2]}
                    for key, v in sorted(table.items()) if v[0] > 0]

        return {"computed_at": computed_at, "local": rows(local), "exported": rows(exported)}
