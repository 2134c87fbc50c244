"""Exported: store files verified in S3, counted per partition (and so per day).

Each verified upload appends one line to a journal and fsyncs it *before* the
local file is deleted, so an export is never forgotten:

    <store key>\\t<records>\\t<bytes>\\t<submission_date>\\n

`exported.json` holds the totals folded from earlier journals and names the
journal in use. At start the journal is folded in (`load`): its keys whose
files are gone from the store move into the totals, and the ones still present
locally (a crash between the journal line and the delete) stay in a new
journal, so re-uploading such a file after the restart is recognised and not
counted twice. Old journals are deleted only after the new state is durable.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.durable import fsync_dir, write_atomic
from appliance.storage.filenames import file_records

STATE_FILE = "exported.json"


def _partition(key: str) -> str:
    return key.rpartition("/")[0]


class ExportedLedger:
    """Records verified uploads; thread-safe (uploads finish on the export-io pool)."""

    def __init__(self, ledger_dir: Path, store_root: Path, date_of: Callable[[str], str]):
        """`date_of(key)` is the submission_date of a store key (or "unknown")."""
        self.dir = ledger_dir
        self.store_root = store_root
        self._date_of = date_of
        self._lock = threading.Lock()
        # partition -> [files, records, bytes, date]
        self.partitions: dict[str, list[Any]] = {}
        self._unfinished: set[str] = set()  # journaled, local copy not yet deleted
        self._journal: Path | None = None
        self._fd: int | None = None

    def load(self) -> None:
        """Fold the last journal into the totals and open a new one (blocking)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        state_path = self.dir / STATE_FILE
        try:
            state = json.loads(state_path.read_bytes())
        except FileNotFoundError:
            state = {}
        self.partitions = {k: list(v) for k, v in state.get("partitions", {}).items()}
        old = state.get("journal")
        still_local: list[str] = []
        if old:
            seen: set[str] = set()
            for line in self._read_journal(self.dir / old):
                key = line.split("\t", 1)[0]
                if key in seen:
                    continue
                seen.add(key)
                if (self.store_root / key).exists():
                    still_local.append(line)
                    self._unfinished.add(key)
                self._add(line)
        number = int(old.split(".")[1]) + 1 if old else 1
        journal = self.dir / f"exported.{number}.log"
        folded = {k: v[:] for k, v in self.partitions.items()}
        for line in still_local:  # these stay journaled, not folded
            key, records, size, _date = line.split("\t")
            row = folded[_partition(key)]
            row[0] -= 1
            row[1] -= int(records)
            row[2] -= int(size)
        write_atomic(journal, "".join(line + "\n" for line in still_local).encode())
        write_atomic(state_path, json.dumps({"partitions": folded, "journal": journal.name},
                                            indent=1).encode())
        for stale in self.dir.glob("exported.*.log"):
            if stale != journal:
                stale.unlink()
        fsync_dir(self.dir)
        self._journal = journal
        self._fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)

    @staticmethod
    def journaled_keys(ledger_dir: Path) -> set[str]:
        """Store keys in the current journal (read only): exported, maybe still local."""
        try:
            state = json.loads((ledger_dir / STATE_FILE).read_bytes())
        except FileNotFoundError:
            return set()
        journal = state.get("journal")
        if not journal:
            return set()
        return {line.split("\t", 1)[0]
                for line in ExportedLedger._read_journal(ledger_dir / journal)}

    @staticmethod
    def _read_journal(path: Path) -> list[str]:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        # A torn last line (crash mid-append) was never followed by a delete: drop it.
        return [line for line in text.split("\n") if line.count("\t") == 3]

    def _add(self, line: str) -> None:
        key, records, size, date = line.split("\t")
        row = self.partitions.setdefault(_partition(key), [0, 0, 0, date])
        row[0] += 1
        row[1] += int(records)
        row[2] += int(size)

    def exported(self, key: str, size: int) -> None:
        """A verified upload of `key`; call before the local copy is deleted (blocking)."""
        with self._lock:
            if key in self._unfinished:
                return  # journaled before a crash; its local copy is only now deleted
            if self._fd is None:
                raise OSError("the export ledger is not open; the local file is kept")
            records = file_records(key.rpartition("/")[2])
            line = f"{key}\t{records}\t{size}\t{self._date_of(key)}"
            data = (line + "\n").encode()
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write to the export journal {self._journal}")
            os.fsync(self._fd)
            self._unfinished.add(key)
            self._add(line)

    def finished(self, key: str) -> None:
        """The local copy of an exported `key` is gone (deleted or retained)."""
        with self._lock:
            self._unfinished.discard(key)

    def snapshot(self) -> tuple[dict[str, list[Any]], frozenset[str]]:
        """(partition -> [files, records, bytes, date], keys exported but still local)."""
        with self._lock:
            return {k: v[:] for k, v in self.partitions.items()}, frozenset(self._unfinished)
