"""Progress callbacks of the runners: `throttle` keeps a callback to phase changes and at most
one call per interval in between (mappers report far more often than anyone reads)."""

from __future__ import annotations

import time
from collections.abc import Callable


def throttle(callback: Callable[[dict], None], interval: float) -> Callable[[dict], None]:
    """A progress callback that passes on every phase change and otherwise at most one
    report per `interval` seconds."""
    last = {"t": 0.0, "phase": None}

    def report(info: dict) -> None:
        now = time.monotonic()
        if info["phase"] == last["phase"] and now - last["t"] < interval:
            return
        last.update(t=now, phase=info["phase"])
        callback(info)

    return report
