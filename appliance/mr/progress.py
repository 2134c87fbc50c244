"""Progress reports of the runners, and `throttle`, which keeps a callback to phase changes
and at most one call per interval in between (mappers report far more often than anyone
reads)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Progress:
    """Where a run is. `phase` is "dedupe" (the first pass of --dedupe), "map", "reduce",
    "merge" or "done"; the reducer counts are set in the reduce phase only."""

    phase: str
    files_total: int
    files_done: int = 0
    records: int = 0
    bytes: int = 0       # compressed input bytes of the files done
    data_bytes: int = 0  # uncompressed bytes read
    errors: int = 0      # records skipped under max_errors
    reducers_done: int | None = None
    reducers_total: int | None = None


ProgressCallback = Callable[[Progress], None]


def throttle(callback: ProgressCallback, interval: float) -> ProgressCallback:
    """A progress callback that passes on every phase change and otherwise at most one
    report per `interval` seconds."""
    last_phase: str | None = None
    last_time = 0.0

    def report(progress: Progress) -> None:
        nonlocal last_phase, last_time
        now = time.monotonic()
        if progress.phase == last_phase and now - last_time < interval:
            return
        last_phase, last_time = progress.phase, now
        callback(progress)

    return report


def relabelled(callback: ProgressCallback | None, phase: str) -> ProgressCallback | None:
    """`callback` with every report's phase replaced (the first pass of --dedupe runs a whole
    job of its own, reported as the "dedupe" phase)."""
    if callback is None:
        return None
    return lambda progress: callback(replace(progress, phase=phase))
