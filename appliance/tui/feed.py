"""What the dashboard polls, as plain data: one `Feed.poll()` per tick, no Textual here.

The feed keeps the rate series the sparklines draw. On (re)connect it seeds them
from `/v1/history`, so a dashboard attached late still shows the last minutes;
after that each poll adds one point computed from two consecutive `/v1/stats`
snapshots, so the server is asked for its 900-sample history only once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from appliance.admin.client import AdminClient, AdminError, AdminUnavailable
from appliance.admin.nodestats import NodeStats

SERIES_POINTS = 900  # 15 minutes at one point per second, like /v1/history


@dataclass(frozen=True)
class Wants:
    """What the visible screens need beyond stats (which every poll fetches)."""

    jobs: bool = False
    partitions: bool = False
    log_level: str | None = None  # fetch /v1/logs at this level when set
    debug: bool = False           # fetch /v1/debug/pings

    def __or__(self, other: Wants) -> Wants:
        return Wants(self.jobs or other.jobs, self.partitions or other.partitions,
                     self.log_level or other.log_level, self.debug or other.debug)


@dataclass
class Series:
    """Per-second rates, oldest first, for the overview's sparklines."""

    requests: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_POINTS))
    bytes: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_POINTS))
    converted: deque[float] = field(default_factory=lambda: deque(maxlen=SERIES_POINTS))

    def add(self, requests: float, nbytes: float, converted: float) -> None:
        self.requests.append(requests)
        self.bytes.append(nbytes)
        self.converted.append(converted)

    def copy(self) -> Series:
        return Series(deque(self.requests, SERIES_POINTS), deque(self.bytes, SERIES_POINTS),
                      deque(self.converted, SERIES_POINTS))


@dataclass(frozen=True)
class Counters:
    """The cumulative counters a rate is computed from, and the server time they are at."""

    at: float
    requests: float
    bytes: float
    converted: float

    @classmethod
    def from_sample(cls, sample: dict[str, Any]) -> Counters:
        """A `/v1/history` sample."""
        return cls(sample["t"], sample.get("requests", 0), sample.get("bytes", 0),
                   sample.get("converted", 0))

    @classmethod
    def from_stats(cls, stats: NodeStats) -> Counters:
        """A `/v1/stats` snapshot; uptime is the server's own clock."""
        ingest = stats["ingest"]
        return cls(stats["uptime_seconds"], sum(ingest["requests_by_status"].values()),
                   ingest["bytes_received"], stats["converter"].get("converted", 0))

    def rates_since(self, earlier: Counters) -> tuple[float, float, float] | None:
        """Per-second rates between two points, or None if no time passed."""
        elapsed = self.at - earlier.at
        if elapsed <= 0:
            return None
        # The converter child's counters restart with it: a drop is no negative rate.
        return (max(0.0, self.requests - earlier.requests) / elapsed,
                max(0.0, self.bytes - earlier.bytes) / elapsed,
                max(0.0, self.converted - earlier.converted) / elapsed)


@dataclass(frozen=True)
class Update:
    """One poll's results; a field is None when it was not asked for (or failed)."""

    connected: bool
    error: str | None = None
    stats: NodeStats | None = None
    series: Series | None = None
    jobs: list[dict[str, Any]] | None = None
    partitions: dict[str, Any] | None = None
    ledger: dict[str, Any] | None = None
    logs: list[dict[str, Any]] | None = None
    log_level: str | None = None
    debug_pings: list[dict[str, Any]] | None = None


class Feed:
    """Polls an AdminClient (blocking; call from a worker thread, one poll at a time)."""

    def __init__(self, client: AdminClient):
        self.client = client
        self.series = Series()
        self._last: Counters | None = None
        self._seeded = False

    def poll(self, wants: Wants) -> Update:
        """Fetch stats plus what `wants` asks for; never raises AdminError."""
        try:
            stats = self.client.stats()
            self._advance(stats)
            return Update(
                connected=True, stats=stats, series=self.series.copy(),
                jobs=self.client.jobs() if wants.jobs else None,
                partitions=self.client.partitions() if wants.partitions else None,
                ledger=self.client.ledger() if wants.partitions else None,
                logs=(self.client.logs(level=wants.log_level)
                      if wants.log_level is not None else None),
                log_level=wants.log_level,
                debug_pings=self.client.debug_pings() if wants.debug else None)
        except AdminUnavailable as e:
            self._seeded = False  # the server may have restarted: reseed from its history
            self._last = None
            return Update(connected=False, error=e.message or "server unavailable")
        except AdminError as e:
            return Update(connected=True, error=f"{e.status}: {e.message}")

    def _advance(self, stats: NodeStats) -> None:
        now = Counters.from_stats(stats)
        if not self._seeded or (self._last is not None and now.at < self._last.at):
            self._seed()
        elif self._last is not None:
            rates = now.rates_since(self._last)
            if rates is not None:
                self.series.add(*rates)
        self._last = now

    def _seed(self) -> None:
        self.series = Series()
        samples = [Counters.from_sample(s) for s in self.client.history().get("samples", [])]
        for earlier, later in zip(samples, samples[1:], strict=False):
            rates = later.rates_since(earlier)
            if rates is not None:
                self.series.add(*rates)
        self._seeded = True
