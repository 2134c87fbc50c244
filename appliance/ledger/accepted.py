"""Accepted: records answered 200, counted by the spool writer, per submission_date.

The counts live on the reactor thread and are written to
`<data_dir>/ledger/accepted.json` every second and at stop, together with the
spool position they cover: for each writer (the 8-byte record id prefix of a
process run), the highest record sequence number counted. After a crash the
records past that position are counted again from the spool frames
(`recover`): they are durable, so they count as accepted even if their 200
never reached the client (which then retries, and its second copy counts too).

The save at a clean stop (the spool writers have stopped, and every record they
appended is counted: no receiver process was restarted or cut off) also lists
each spool segment's name and size
(`spool_at_stop`). At the next start a spool in which every segment is still
one of those, with the same size, holds nothing uncounted and is not read:
with a backlog of gigabytes that read took seconds before the server listened.
Anything else (a crash, which leaves the periodic save without that list; or a
segment appended to or added since, e.g. by `appliance import`) is read as
above. The first save after the start drops the list.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from appliance.durable import write_atomic
from appliance.ledger.dates import DayOf
from appliance.spool.reader import read_segment
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir, sealed_at

ACCEPTED_FILE = "accepted.json"


def split_id(record_id: bytes) -> tuple[str, int]:
    """(writer prefix as hex, sequence number) of a record id."""
    return record_id[:8].hex(), int.from_bytes(record_id[8:16], "big")


class AcceptedLedger:
    """Per-day counts of accepted records and the position they cover."""

    def __init__(self, ledger_dir: Path):
        self.path = ledger_dir / ACCEPTED_FILE
        self.days: Counter[str] = Counter()
        self.writers: dict[str, int] = {}  # prefix hex -> last sequence number counted
        self.version = 0  # bumped on every change, so savers know when to write
        self.spool_at_stop: dict[str, int] | None = None  # as saved by a clean stop
        self._day = DayOf()

    def load(self) -> None:
        """Read the persisted counts (none on first start)."""
        try:
            obj = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        self.days = Counter({str(k): int(v) for k, v in obj.get("days", {}).items()})
        self.writers = {str(k): int(v) for k, v in obj.get("writers", {}).items()}
        stopped = obj.get("spool_at_stop")
        self.spool_at_stop = ({str(k): int(v) for k, v in stopped.items()}
                              if isinstance(stopped, dict) else None)

    def recover(self, spool: SpoolDir) -> int:
        """Count spool records past the persisted position; returns how many.

        Blocking (reads every segment, unless the spool is as a clean stop left
        it: see the module docstring): run it off the reactor thread, before the
        spool writer starts.
        """
        stopped, self.spool_at_stop = self.spool_at_stop, None
        if stopped is not None and all(stopped.get(name) == size
                                       for name, size in spool.sizes().items()):
            return 0
        found = 0
        for segment in spool.all_segments():
            try:
                for record in read_segment(segment):
                    found += self._count_new(record)
            except FileNotFoundError:
                continue  # converted meanwhile: the gate converts only counted records
        if found:
            self.version += 1
        return found

    def _count_new(self, record: SpoolRecord) -> int:
        prefix, seq = split_id(record.record_id)
        if seq <= self.writers.get(prefix, -1):
            return 0  # counted already (or a copy re-appended after an fsync error)
        self.writers[prefix] = seq
        self.days[self._day(record.received_ns)] += 1
        return 1

    def count(self, records: list[SpoolRecord]) -> None:
        """The spool writer made `records` durable and is about to answer 200 (reactor thread)."""
        day = self._day
        days = self.days
        for record in records:
            days[day(record.received_ns)] += 1
        prefix, seq = split_id(records[-1].record_id)
        self.writers[prefix] = seq
        self.version += 1

    def position(self) -> dict[str, int]:
        """A copy of the covered position (prefix -> last sequence number)."""
        return dict(self.writers)

    def to_json(self, spool_at_stop: dict[str, int] | None = None) -> bytes:
        """The counts as saved; with `spool_at_stop` (SpoolDir.sizes() once the spool
        writer has stopped) for the save at a clean stop."""
        obj: dict[str, object] = {"days": dict(sorted(self.days.items())),
                                  "writers": self.writers}
        if spool_at_stop is not None:
            obj["spool_at_stop"] = spool_at_stop
        return json.dumps(obj, indent=1).encode()

    def save(self, data: bytes | None = None) -> None:
        """Write the counts atomically (blocking; `data` from `to_json()` on the reactor)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, data if data is not None else self.to_json())


class AcceptedGate:
    """The converter asks it before converting a record: is its count saved?

    A converted segment is deleted, and then a crash could no longer recount
    its records; so the server's converter converts a record only once
    `accepted.json` covers it (normally within a second), or once its segment
    has been sealed for `grace` seconds (records that will never be counted as
    answered: a batch whose fsync failed, `appliance import` while serving).
    """

    def __init__(self, ledger_dir: Path, *, grace: float = 30.0, reload_every: float = 0.05,
                 wall: Callable[[], float] = time.time):
        self._ledger = AcceptedLedger(ledger_dir)
        self._grace = grace
        self._reload_every = reload_every
        self._wall = wall
        self._loaded_at: float | None = None

    def __call__(self, record: SpoolRecord, segment: Path) -> bool:
        prefix, seq = split_id(record.record_id)
        if seq <= self._ledger.writers.get(prefix, -1):
            return True
        now = self._wall()
        if self._loaded_at is None or now - self._loaded_at >= self._reload_every:
            self._ledger.load()
            self._loaded_at = now
            if seq <= self._ledger.writers.get(prefix, -1):
                return True
        return now - sealed_at(segment) >= self._grace
