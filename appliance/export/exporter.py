"""The exporter loop in the server: ship finished store files to S3, oldest first.

Every S3 call runs on the "export-io" thread pool, never the reactor thread.
A file is deleted locally (or moved to the retained tree) only after S3 is
confirmed to hold its bytes. A failed file waits before its next try:
exponentially longer (with jitter) for passing failures, `max_backoff` for
setup problems (credentials, permissions, a missing bucket), which are also
shown in the stats and on /status. Nothing is ever dropped: during an S3
outage the backlog simply grows on disk (the spool's free-space watermark
still protects ingest).
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from appliance.export.backlog import (
    StoreFile,
    UploadLedger,
    finished_files,
    purge_retained,
    ship,
)
from appliance.export.errors import describe, error_kind, is_setup_problem
from appliance.export.uploader import Uploaded, Uploader
from appliance.reactortype import IServiceReactor
from appliance.stats import Stats

log = Logger()
THROUGHPUT_WINDOW = 60.0
PURGE_EVERY = 3600.0


class Exporter:
    """Keeps the store's finished files flowing to S3."""

    def __init__(self, reactor: IServiceReactor, uploader: Uploader, store_root: Path,
                 stats: Stats, *,
                 concurrency: int, interval: float, max_backoff: float,
                 retained_root: Path | None = None, retain_days: float = 0.0,
                 rng: Callable[[], float] = random.random, ledger: UploadLedger | None = None,
                 pool: ThreadPool | None = None):
        """`pool` runs the blocking work (S3 calls, store scans): "export-io" if None."""
        self.reactor = reactor
        self.uploader = uploader
        self.store_root = store_root
        self.stats = stats
        self.concurrency = concurrency
        self.max_backoff = max_backoff
        self.retained_root = retained_root
        self.retain_days = retain_days
        self.ledger = ledger  # counts verified uploads (appliance.ledger.exported)
        self._rng = rng
        self._pool = pool or ThreadPool(minthreads=0, maxthreads=concurrency + 1,
                                        name="export-io")
        self._loop = LoopingCall(self.tick)
        self._loop.clock = reactor
        self._interval = interval
        self._in_flight: dict[str, Deferred[Uploaded]] = {}
        self._retry: dict[str, tuple[float, int]] = {}
        self._scanning = False
        self._last_purge = 0.0
        self._recent: deque[tuple[float, int]] = deque()
        self.problem: str | None = None
        self._failing = False
        self.uploaded_files = 0
        self.uploaded_bytes = 0
        self.already_there = 0
        self.errors: Counter[str] = Counter()
        self.last_error: str | None = None
        self.backlog: list[StoreFile] = []
        self.held: str | None = None  # why no upload may start now (appliance.node.registry)
        self._publish()

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        """Probe the bucket (logging a clear error if it fails), then start the loop."""
        self._pool.start()
        d = deferToThreadPool(self.reactor, self._pool, self.uploader.probe)
        d.addCallbacks(self._probe_ok, self._probe_failed)
        self._loop.start(self._interval, now=True)

    def _probe_ok(self, _: None) -> None:
        log.info("export: s3://{bucket} reachable", bucket=self.uploader.bucket)

    def _probe_failed(self, failure: Failure) -> None:
        self.problem = f"s3://{self.uploader.bucket}: {describe(failure.value)}"
        self._publish()
        log.error("export: cannot use {problem}; files are kept and retried",
                  problem=self.problem)

    async def stop(self) -> None:
        """Stop scanning, let uploads in flight finish, stop the threads."""
        if self._loop.running:
            self._loop.stop()
        await DeferredList(list(self._in_flight.values()), consumeErrors=True)
        self._pool.stop()  # idle threads: joins at once

    def hold(self, reason: str | None) -> None:
        """Start no upload while `reason` is set (uploads in flight finish); None resumes."""
        self.held = reason
        self._publish()
        if reason is None and self._loop.running:
            self.tick()

    # -- scanning -----------------------------------------------------------

    def tick(self) -> Deferred[None] | None:
        """Scan the store (on the pool) and start uploads that are due."""
        if self._scanning:
            return None
        self._scanning = True
        scanning = deferToThreadPool(self.reactor, self._pool, self._scan,
                                     self.reactor.seconds())
        d = scanning.addCallback(self._schedule)
        d.addErrback(lambda f: log.failure("export: scanning the store failed", f))
        d.addBoth(self._scanned)
        return d

    def _scanned(self, _: object) -> None:
        self._scanning = False

    def _scan(self, now: float) -> list[StoreFile]:
        if self.retained_root is not None and now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            purge_retained(self.retained_root, self.retain_days, now)
        return finished_files(self.store_root)

    def _schedule(self, files: list[StoreFile]) -> None:
        self.backlog = files
        now = self.reactor.seconds()
        for file in files:
            if self.held is not None or len(self._in_flight) >= self.concurrency:
                break
            if file.key in self._in_flight or self._retry.get(file.key, (0, 0))[0] > now:
                continue
            d = deferToThreadPool(self.reactor, self._pool, ship, self.uploader, file,
                                  self.retained_root, self.ledger)
            self._in_flight[file.key] = d
            d.addCallbacks(self._done, self._failed, callbackArgs=(file,), errbackArgs=(file,))
        self._publish()

    # -- outcomes (reactor thread) ------------------------------------------

    def _done(self, result: Uploaded, file: StoreFile) -> None:
        del self._in_flight[file.key]
        self._retry.pop(file.key, None)
        self.backlog = [f for f in self.backlog if f.key != file.key]
        self.uploaded_files += 1
        self.already_there += int(result.already_there)
        if not result.already_there:
            self.uploaded_bytes += result.size
            self._recent.append((self.reactor.seconds(), result.size))
        log.info("export: {verb} {key} ({size} bytes)", key=result.key, size=result.size,
                 verb="found already in S3" if result.already_there else "uploaded")
        if self.problem or self._failing:
            log.info("export: uploads succeed again")
            self.problem = None
            self._failing = False
        self._publish()
        if not self._in_flight and self._loop.running:
            self.tick()  # more may be waiting: don't idle until the next interval

    def _failed(self, failure: Failure, file: StoreFile) -> None:
        del self._in_flight[file.key]
        error = failure.value
        kind = error_kind(error)
        self.errors[kind] += 1
        self._failing = True
        self.last_error = f"{file.key}: {describe(error)}"
        attempts = self._retry.get(file.key, (0, 0))[1] + 1
        if is_setup_problem(error):
            self.problem = f"s3://{self.uploader.bucket}: {describe(error)}"
            delay = self.max_backoff
        else:
            delay = min(self.max_backoff, 2.0 ** (attempts - 1)) * (0.5 + self._rng() / 2)
        self._retry[file.key] = (self.reactor.seconds() + delay, attempts)
        log.warn("export: {key} failed ({error}); retrying in {delay:.1f}s",
                 key=file.key, error=describe(error), delay=delay)
        self._publish()

    def _publish(self) -> None:
        now = self.reactor.seconds()
        while self._recent and now - self._recent[0][0] > THROUGHPUT_WINDOW:
            self._recent.popleft()
        oldest = min((f.mtime for f in self.backlog), default=None)
        self.stats.export = {
            "enabled": True,
            "bucket": self.uploader.bucket,
            "backlog_files": len(self.backlog),
            "backlog_bytes": sum(f.size for f in self.backlog),
            "lag_seconds": max(0.0, now - oldest) if oldest is not None else 0.0,
            "in_flight": len(self._in_flight),
            "uploaded_files": self.uploaded_files,
            "uploaded_bytes": self.uploaded_bytes,
            "already_there": self.already_there,
            "throughput_bytes_per_second": sum(b for _, b in self._recent) / THROUGHPUT_WINDOW,
            "errors": dict(self.errors),
            "last_error": self.last_error,
            "problem": self.problem,
            "held": self.held,
        }
