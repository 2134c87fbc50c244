"""The ledger in the server: keeps the counters, persists them, and reconciles every day.

Counting happens where each stage acts (the spool writer calls
`accepted.count`, the exporter `exported.exported`, the converter commits its
own counts); this monitor loads them at start, saves the accepted counts every
second, and every `interval` seconds reads the converter's checkpoint, the
spool and the local store in a thread to build the per-day rows.

Stages move while they are counted, so a row can be off for one pass (a
commit between two reads). A mismatch is only reported as an alert
(`alerts`) once two passes in a row find the same numbers for that day.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from appliance.datadir import DataDir
from appliance.ledger.accepted import AcceptedLedger
from appliance.ledger.converted import DayCounts
from appliance.ledger.exported import ExportedLedger
from appliance.ledger.local import LocalFile, date_of_key, scan_store
from appliance.ledger.pending import PendingConversion
from appliance.ledger.reconcile import day_rows
from appliance.reactortype import IServiceReactor
from appliance.spool.segments import SpoolDir
from appliance.storage.checkpoint import CheckpointLog
from appliance.storage.keys import holds_records
from appliance.storage.schema import Schema

log = Logger()
SAVE_INTERVAL = 1.0
_FULLY_CONVERTED = 1 << 62
_Result = TypeVar("_Result")
_Stages = tuple[DayCounts, dict[str, int], list[LocalFile]]


class LedgerMonitor:
    """Owns the accepted and exported counters of a server and its latest reconciliation."""

    def __init__(self, reactor: IServiceReactor, data_dir: Path, spool: SpoolDir,
                 schemas: Callable[[str], Schema], *, export_enabled: bool, interval: float,
                 threadpool: ThreadPool | None = None, node_id: str | None = None):
        self.reactor = reactor
        self.node_id = node_id  # whose records these are: the data dir's node id
        data = DataDir(data_dir)
        self.store_root = data.store
        ledger_dir = data.ledger
        self.accepted = AcceptedLedger(ledger_dir)
        self.exported = ExportedLedger(ledger_dir, self.store_root,
                                       lambda key: date_of_key(key, schemas))
        self.export_enabled = export_enabled
        self._schemas = schemas
        self._spool = spool
        self._pending = PendingConversion(spool)
        self._checkpoints = CheckpointLog(self.store_root, spool.root)
        self._pool = threadpool
        self._interval = interval
        self._loop = LoopingCall(self.refresh)
        self._loop.clock = reactor
        self._saver = LoopingCall(self.save)
        self._saver.clock = reactor
        self._saved_version = 0
        self._saving: Deferred[None] | None = None
        self._refreshing: Deferred[None] | None = None
        self._seen: dict[str, str] = {}  # date -> imbalances found by the previous pass
        self.days: list[dict[str, Any]] = []
        self.local_files: list[LocalFile] = []
        self.computed_at: float | None = None
        self.alerts: list[str] = []

    def _in_thread(self, f: Callable[..., _Result], *args: object) -> Deferred[_Result]:
        pool = self._pool or self.reactor.getThreadPool()
        return deferToThreadPool(self.reactor, pool, f, *args)

    async def open(self) -> int:
        """Load the counters and count records a crash left uncounted; returns how many."""
        def load() -> int:
            self.accepted.load()
            found = self.accepted.recover(self._spool)
            self.accepted.save()
            self.exported.load()
            return found
        found = await self._in_thread(load)
        self._saved_version = self.accepted.version
        if found:
            log.info("ledger: counted {n} spooled record(s) as accepted after a crash", n=found)
        return found

    def start(self) -> None:
        self._saver.start(SAVE_INTERVAL, now=False)
        self._loop.start(self._interval, now=True)

    async def stop(self, all_counted: bool = False) -> None:
        """Stop the loops and write the accepted counts one last time; `all_counted`: the
        spool writers have stopped and every record they appended is counted, so the save
        lists the spool as it is (the next start need not read it: see
        appliance.ledger.accepted)."""
        for loop in (self._loop, self._saver):
            if loop.running:
                loop.stop()
        if self._saving is not None:
            await self._saving
        if self._refreshing is not None:
            await self._refreshing
        sizes = await self._in_thread(self._spool.sizes) if all_counted else None
        await self._in_thread(self.accepted.save, self.accepted.to_json(spool_at_stop=sizes))

    # -- saving the accepted counts ------------------------------------------

    def save(self) -> Deferred[None] | None:
        """Write the accepted counts if they changed (in a thread)."""
        version = self.accepted.version
        if self._saving is not None or version == self._saved_version:
            return None

        def saved(_: object) -> None:
            self._saved_version = version
            self._saving = None

        def failed(failure: Failure) -> None:
            self._saving = None
            log.failure("ledger: cannot save the accepted counts", failure)

        self._saving = self._in_thread(self.accepted.save, self.accepted.to_json())
        self._saving.addCallbacks(saved, failed)
        return self._saving

    # -- reconciling ---------------------------------------------------------

    def refresh(self) -> Deferred[None]:
        """Recompute every day's row (coalesced: one pass at a time)."""
        if self._refreshing is not None:
            return self._refreshing
        accepted = dict(self.accepted.days)
        position = self.accepted.position()
        exported, still_local = self.exported.snapshot()

        def done(result: _Stages) -> None:
            converted, pending, local = result
            per_day: dict[str, int] = {}
            for partition, (files, records, _size, date) in exported.items():
                if files and holds_records(partition):
                    per_day[date] = per_day.get(date, 0) + records
            self._publish(day_rows(accepted, converted, pending, per_day, local, still_local,
                                   self.export_enabled), local)

        def finished(result: object) -> object:
            self._refreshing = None
            return result

        d = self._in_thread(self._read_stages, position).addCallback(done)
        d.addErrback(lambda f: log.failure("ledger: reconciliation failed", f))
        d.addBoth(finished)
        self._refreshing = d
        return d

    def _read_stages(self, position: dict[str, int]) -> _Stages:
        """(converted counts, pending conversion, local files) read consistently (blocking)."""
        for _attempt in range(3):
            before = self._checkpoints.load()
            offsets = dict(before.offsets)
            offsets.update({name: _FULLY_CONVERTED for name in before.delete})
            pending = self._pending.count(offsets, position)
            local = scan_store(self.store_root, self._schemas)
            if self._checkpoints.load().to_json() == before.to_json():
                break  # no commit in between: the three reads agree
        return DayCounts(before.ledger), pending, local

    def _publish(self, days: list[dict[str, Any]], local: list[LocalFile]) -> None:
        seen: dict[str, str] = {}
        alerts: list[str] = []
        for row in days:
            problem = row["problem"]
            if problem is None:
                continue
            out = row["converted"] + sum(row["invalid"].values())
            signature = (f"{row['accepted'] - out - row['pending_conversion']}/"
                         f"{out - row['exported'] - row['pending_export']}")
            row["confirmed"] = self._seen.get(row["date"]) == signature
            seen[row["date"]] = signature
            if row["confirmed"]:
                alerts.append(f"ledger: {row['date']} does not reconcile: {problem}")
        for row in days:
            row.setdefault("confirmed", True)
        self._seen = seen
        self.days, self.local_files, self.alerts = days, local, alerts
        self.computed_at = self.reactor.seconds()

    def as_dict(self) -> dict[str, Any]:
        """GET /v1/ledger."""
        return {"computed_at": self.computed_at, "node_id": self.node_id,
                "export_enabled": self.export_enabled, "days": self.days}
