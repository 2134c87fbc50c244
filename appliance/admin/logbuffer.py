"""The last N log events in memory, for GET /v1/logs."""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.logger import ILogObserver, LogLevel, formatEvent
from zope.interface import implementer

LEVELS = {"debug": LogLevel.debug, "info": LogLevel.info, "warn": LogLevel.warn,
          "error": LogLevel.error, "critical": LogLevel.critical}
_ORDER = {level: i for i, level in enumerate(LEVELS.values())}


@implementer(ILogObserver)
class RecentEvents:
    """A twisted.logger observer keeping the most recent `size` events as plain dicts."""

    def __init__(self, size: int):
        self.size = size
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=size)

    def __call__(self, event: dict[str, Any]) -> None:
        level = event.get("log_level", LogLevel.info)
        text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text = f"{text}: {failure.getErrorMessage()}" if text else failure.getErrorMessage()
        self._events.append((_ORDER.get(level, 1), {
            "time": event.get("log_time"),
            "level": getattr(level, "name", "info"),
            "namespace": event.get("log_namespace", ""),
            "text": text,
        }))

    def select(self, level: str = "info", limit: int = 200) -> list[dict[str, Any]]:
        """Events at `level` or above, the newest `limit`, oldest first."""
        if level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        floor = _ORDER[LEVELS[level]]
        chosen = [e for rank, e in self._events if rank >= floor]
        return chosen[-limit:] if limit > 0 else []
