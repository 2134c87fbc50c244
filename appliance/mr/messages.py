"""What the local runner's driver and its worker processes send each other (over
multiprocessing queues, so every message is a small picklable dataclass).

Driver -> worker: a `MapTask` or a `ReduceTask`, then None to stop.
Worker -> driver: `MapProgress` while mapping, `MapDone` / `ReduceDone` with a task's
result, or `TaskFailed` (the worker then exits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MapTask:
    """Map these inputs (`appliance.mr.inputs`: store, spool and remote files)."""

    tid: int
    files: list[Any]


@dataclass(frozen=True)
class ReduceTask:
    """Reduce one partition from the mappers' sorted runs (paths in the work dir)."""

    tid: int
    runs: list[str]


Task = MapTask | ReduceTask


@dataclass
class MapResult:
    """What one mapper did: its sorted runs per reducer partition and its counts."""

    runs: dict[int, list[str]]
    records: int = 0
    skipped: int = 0  # records on which map raised, under max_errors
    spills: int = 0
    first_error: str | None = None
    counts: dict[str, int] = field(default_factory=dict)   # spool and dedupe counters
    sources: dict[str, int] = field(default_factory=dict)  # records read per source
    bad_lines: int = 0  # records on which map raised ValueError: skipped, as in 2013
    bad_notes: list[str] = field(default_factory=list)  # the first few, described


@dataclass(frozen=True)
class ReduceResult:
    """What one reducer did: its sorted record runs, the keys it reduced, its spills."""

    runs: list[str]
    keys: int
    spills: int


@dataclass(frozen=True)
class MapProgress:
    """Records and bytes mapped since the mapper's last report; `files_done` files (of
    `file_bytes` compressed bytes) finished with it."""

    mid: int
    records: int
    data_bytes: int
    files_done: int = 0
    file_bytes: int = 0


@dataclass(frozen=True)
class MapDone:
    tid: int
    result: MapResult


@dataclass(frozen=True)
class ReduceDone:
    tid: int
    result: ReduceResult


@dataclass(frozen=True)
class TaskFailed:
    """A task failed; `message` is the whole explanation shown to the user."""

    tid: int
    message: str


Message = MapProgress | MapDone | ReduceDone | TaskFailed
