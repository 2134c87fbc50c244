"""A consistent snapshot of a node's local data for one job: store files + unconverted spool.

While a job starts, the converter may commit a generation (store files appear,
spool segments are deleted), the receiver may seal a segment, and the exporter
may delete store files it has uploaded. A job must see every record exactly
once all the same. The snapshot does it with hard links and the converter's
frontier (`appliance.storage.checkpoint`):

1. read the checkpoint; if its last commit is not applied yet, wait;
2. list the spool's segments;
3. under a shared lock on `<store>/.snapshot.lock` (the exporter takes it
   exclusively to delete a file it uploaded, `export.backlog.finish_local`),
   hard-link the store files the filter selects whose generation starts
   before the frontier (later ones hold records the snapshot reads from the
   spool);
4. hard-link the spool segments that hold records after the frontier;
5. read the checkpoint and list the spool again: if anything changed (a
   commit, a seal, a deletion) throw the links away and start over.

The links keep the data readable whatever the services do next, and cost no
copy. They live under the data dir (hard links cannot cross file systems) and
are removed with the snapshot. A store file of this node (by its unique node
id, `appliance.node`) whose generation is at or after the frontier is skipped
locally and in S3 (`after_frontier`, `appliance.mr.resolve`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from appliance.mr.inputs import InputFile, SpoolInput, SpoolPiece, select_inputs
from appliance.node import same_node
from appliance.spool.segments import SpoolDir, is_sealed_name, segment_stem
from appliance.storage.checkpoint import Checkpoint, CheckpointLog
from appliance.storage.filenames import generation_position, split_file_name
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource
from appliance.storage.readlock import store_read_lock

START = ("", 0)  # a spool position before every other


class SnapshotError(Exception):
    """The snapshot could not be taken (names the reason)."""


@dataclass
class LocalSnapshot:
    """Store files and spool pieces linked under `directory`; `remove()` when done."""

    directory: Path
    node_id: str
    frontier: tuple[str, int] | None
    store_files: list[InputFile] = field(default_factory=list)
    spool_pieces: list[SpoolPiece] = field(default_factory=list)

    @property
    def store_root(self) -> Path:
        """Where the store files are linked, each under its own store key."""
        return self.directory / "store"

    @property
    def spool_input(self) -> SpoolInput | None:
        """The spool pieces as one mapper input, or None if there are none."""
        if not self.spool_pieces:
            return None
        return SpoolInput(str(self.directory / "spool"), tuple(self.spool_pieces),
                          sum(p.end - p.start for p in self.spool_pieces), self.node_id)

    def after_frontier(self, file_name: str) -> bool:
        """True for a store file of this node whose records the snapshot reads from the spool."""
        return after_frontier(file_name, self.node_id, self.frontier)

    def local_path(self, key: str) -> Path | None:
        """The snapshot's link of the store key `key`, or None if it holds no such file."""
        return self.store_root / key if key in self._keys else None

    @cached_property
    def _keys(self) -> set[str]:
        return {Path(f.path).relative_to(self.store_root).as_posix() for f in self.store_files}

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def after_frontier(file_name: str, node_id: str, frontier: tuple[str, int] | None) -> bool:
    """True if `file_name` (``<node>.<generation>.<part>.<records>.zst``) is a file of
    the node `node_id` (the node part of its file names) whose generation starts at or after
    `frontier`. Nodes are compared by their unique ids, never by their labels."""
    name = split_file_name(file_name)
    if frontier is None or name is None or not same_node(name.node, node_id):
        return False
    position = generation_position(name.generation)
    return position is not None and position >= frontier


def take_snapshot(store_root: Path, spool_root: Path | None, directory: Path,
                  flt: Filter | None = None, schemas: SchemaSource = None, *, node_id: str,
                  attempts: int = 200, wait: float = 0.05) -> LocalSnapshot:
    """Link a consistent view of the store (and the spool, unless `spool_root` is None)
    into `directory`, which must be on the same file system; see the module docstring."""
    log = CheckpointLog(store_root, spool_root or store_root)
    for _ in range(attempts):
        checkpoint = log.load()
        if not checkpoint.applied:
            time.sleep(wait)  # the converter is applying its commit right now
            continue
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        # Without the spool every committed store file is wanted, whatever its generation.
        frontier = _frontier(log, checkpoint) if spool_root is not None else None
        snap = LocalSnapshot(directory, node_id, frontier)
        segments = _segments(spool_root) if spool_root is not None else []
        try:
            with store_read_lock(store_root):
                snap.store_files = _link_store(snap, store_root, flt, schemas)
            snap.spool_pieces = _link_spool(snap, segments, checkpoint.offsets)
        except FileNotFoundError:
            continue  # a segment was sealed or deleted between listing and linking
        if log.load() == checkpoint and (spool_root is None or _segments(spool_root) == segments):
            return snap
    shutil.rmtree(directory, ignore_errors=True)
    raise SnapshotError(f"no consistent snapshot of {store_root} after {attempts} attempts "
                        f"(the converter or receiver changed it every time)")


def _segments(spool_root: Path) -> list[tuple[Path, int]]:
    """(path, inode) of every segment, in spool order."""
    out = []
    for path in SpoolDir(spool_root).all_segments():
        try:
            out.append((path, path.stat().st_ino))
        except FileNotFoundError:
            continue
    return out


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise SnapshotError(f"cannot hard-link {source} into {target.parent}: {e.strerror} "
                            f"(the job's work dir must be on the data dir's file system)") \
            from None


def _link_store(snap: LocalSnapshot, store_root: Path, flt: Filter | None,
                schemas: SchemaSource) -> list[InputFile]:
    target = snap.store_root
    target.mkdir()
    files = []
    for f in select_inputs(store_root, flt, schemas):
        if snap.after_frontier(os.path.basename(f.path)):
            continue
        link = target / os.path.relpath(f.path, store_root)  # the same key under the snapshot
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            _link(Path(f.path), link)
        except FileNotFoundError:
            continue  # moved by a `convert` or `export --once` outside the lock
        files.append(f._replace(path=str(link)))
    return files


def _frontier(log: CheckpointLog, checkpoint: Checkpoint) -> tuple[str, int] | None:
    """The checkpoint's frontier; the start of the spool if nothing was ever committed; None
    for a store from before frontiers were recorded."""
    if checkpoint.frontier is None and checkpoint == Checkpoint() and not log.path.exists():
        return START
    return checkpoint.frontier


def _link_spool(snap: LocalSnapshot, segments: list[tuple[Path, int]],
                offsets: dict[str, int]) -> list[SpoolPiece]:
    target = snap.directory / "spool"
    target.mkdir()
    pieces = []
    for i, (path, inode) in enumerate(segments):
        start = _start(path, snap.frontier, offsets)
        if start is None:
            continue
        link = target / f"{i:06d}-{path.name}"
        _link(path, link)
        st = link.stat()
        if st.st_ino != inode:
            raise FileNotFoundError(path)  # the name moved to another segment: start over
        if st.st_size > start:
            pieces.append(SpoolPiece(str(link), start, st.st_size))
    return pieces


def _start(segment: Path, frontier: tuple[str, int] | None,
           offsets: dict[str, int]) -> int | None:
    """Where the unconverted records of `segment` start; None if it has none."""
    name = segment.name
    if not is_sealed_name(name):
        return 0  # the active or a rotating segment: the converter has not seen it
    if frontier is None:  # a store from before frontiers were recorded
        return offsets.get(name, 0)
    stem = segment_stem(segment)
    if stem < frontier[0]:
        return None
    return frontier[1] if stem == frontier[0] else 0
