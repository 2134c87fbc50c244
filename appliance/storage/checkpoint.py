"""The converter's commit protocol: exactly once from spool segments to store files.

A generation (the records converted since the last commit) becomes visible in
one step, by writing `<store>/.checkpoint.json`:

    {"offsets":  {segment: byte offset converted up to},
     "frontier": [segment stem, byte offset]: where the next generation starts,
     "renames":  [[tmp path, store key], ...],
     "delete":   [fully converted segment, ...],
     "store_delete": [store key replaced by this commit, ...]}

1. every file of the generation is complete and fsynced under `.tmp/`;
2. the checkpoint is replaced atomically: this is the commit point;
3. the renames are applied (parent directories fsynced), the store files
   they replace (`appliance reconvert`) and the converted segments deleted
   (directories fsynced);
4. the checkpoint is rewritten with only the offsets and the frontier.

The frontier orders spool positions as (segment stem, offset) tuples: sealed
segment names sort by sealing time, and a generation id names the position it
starts at (`appliance.storage.filenames.generation_id`). Everything before the
frontier is in store files whose generation starts before it; everything after
it is still in the spool. Jobs use this to read a consistent snapshot of store
and spool (`appliance.mr.snapshot`).

After a crash, `recover()` redoes steps 3-4 of a committed generation (each
step is idempotent) and throws away `.tmp/`, the uncommitted generation;
conversion resumes at the recorded offsets, so no record is lost or stored
twice.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from appliance.durable import fsync_dir, makedirs_durable, write_atomic
from appliance.storage.filenames import TMP_DIR

CHECKPOINT = ".checkpoint.json"
_FIELDS = {"offsets", "frontier", "renames", "delete", "ledger", "store_delete"}


@dataclass
class Checkpoint:
    """Where conversion stands, and a committed generation not yet applied."""

    offsets: dict[str, int] = field(default_factory=dict)
    renames: list[tuple[str, str]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    frontier: tuple[str, int] | None = None
    # Per submission_date {"converted": n, "invalid": {reason: n}} totals, committed with
    # the generation that counts them (appliance.ledger.converted).
    ledger: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # other versions' fields, kept as is
    store_delete: list[str] = field(default_factory=list)  # store keys the renames replace

    @property
    def applied(self) -> bool:
        """True once the renames and deletions of the last commit are done."""
        return not self.renames and not self.delete and not self.store_delete

    def to_json(self) -> bytes:
        return json.dumps({**self.extra, "offsets": self.offsets, "frontier": self.frontier,
                           "renames": self.renames, "delete": self.delete,
                           **({"store_delete": self.store_delete} if self.store_delete else {}),
                           "ledger": self.ledger}, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Checkpoint:
        obj = json.loads(data)
        frontier = obj.get("frontier")
        return cls(dict(obj.get("offsets", {})),
                   [tuple(r) for r in obj.get("renames", [])],
                   list(obj.get("delete", [])),
                   (str(frontier[0]), int(frontier[1])) if frontier else None,
                   dict(obj.get("ledger", {})),
                   {k: v for k, v in obj.items() if k not in _FIELDS},
                   list(obj.get("store_delete", [])))


class CheckpointLog:
    """Commits generations into a store root and deletes what they consumed from a spool."""

    def __init__(self, store_root: Path, spool_root: Path):
        self.store_root = store_root
        self.spool_root = spool_root
        self.path = store_root / CHECKPOINT

    def load(self) -> Checkpoint:
        try:
            return Checkpoint.from_json(self.path.read_bytes())
        except FileNotFoundError:
            return Checkpoint()

    def commit(self, checkpoint: Checkpoint) -> None:
        """Make a generation visible and forget the segments it consumed."""
        self.store_root.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, checkpoint.to_json())
        self._apply(checkpoint)

    def recover(self) -> Checkpoint:
        """Finish a committed generation, discard an uncommitted one; return the offsets."""
        checkpoint = self.load()
        self._apply(checkpoint)
        shutil.rmtree(self.store_root / TMP_DIR, ignore_errors=True)
        return replace(checkpoint, renames=[], delete=[])

    def _apply(self, checkpoint: Checkpoint) -> None:
        if checkpoint.applied:
            return
        touched: set[Path] = set()
        for tmp, key in checkpoint.renames:
            source, target = self.store_root / tmp, self.store_root / key
            # A missing source was renamed before a crash (.tmp/ is only
            # cleared after this runs); its target may since have been exported.
            if source.exists():
                makedirs_durable(target.parent)
                source.replace(target)
                touched.add(target.parent)
        for key in checkpoint.store_delete:
            try:
                (self.store_root / key).unlink()
                touched.add((self.store_root / key).parent)
            except FileNotFoundError:
                pass
        for directory in touched:
            fsync_dir(directory)
        removed = False
        for name in checkpoint.delete:
            try:
                (self.spool_root / name).unlink()
                removed = True
            except FileNotFoundError:
                pass
        if removed:
            fsync_dir(self.spool_root)
        offsets = {k: v for k, v in checkpoint.offsets.items() if k not in checkpoint.delete}
        write_atomic(self.path, replace(checkpoint, offsets=offsets, renames=[], delete=[],
                                        store_delete=[]).to_json())
        checkpoint.renames, checkpoint.delete, checkpoint.offsets = [], [], offsets
        checkpoint.store_delete = []
