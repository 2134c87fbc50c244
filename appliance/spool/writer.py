"""The spool writer thread: group commit between the reactor and the disk.

The reactor thread calls `submit()` and gets a Deferred; the writer thread
takes everything queued (up to `max_batch_bytes`), appends it as one batch,
fdatasyncs once, and fires the batch's Deferreds back on the reactor thread.
While one batch syncs the next one gathers, so the batch size grows with the
load and no artificial delay is needed.

After a failed batch the writer is `failing` (the receiver answers 503).
That must not wait for a client's submission to succeed: `probe_if_failing()`
(the disk guard calls it after every check) has the writer thread write and
sync a small fresh file, and success clears `failing` by itself.
"""

from __future__ import annotations

import errno
import threading
from collections import deque
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger

from appliance.disk import is_no_space
from appliance.spool.appender import AppendResult, SegmentAppender
from appliance.spool.frame import OVERHEAD
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.stats import Stats

log = Logger()


class SpoolSaturated(Exception):
    """More bytes are waiting for the disk than `max_pending_bytes`: answer 503."""


class SpoolWriteFailed(Exception):
    """The batch holding this record could not be made durable."""

    def __init__(self, error: OSError):
        super().__init__(f"spool write failed: {error}")
        self.error = error

    @property
    def no_space(self) -> bool:
        return is_no_space(self.error)


class SpoolWriter:
    """Accepts records on the reactor thread and makes them durable on its own thread."""

    def __init__(
        self,
        appender: SegmentAppender,
        reactor: IReactorFromThreads,
        stats: Stats,
        *,
        max_batch_bytes: int,
        max_pending_bytes: int,
        ids: RecordIds | None = None,
        on_acked: Callable[[list[SpoolRecord]], None] | None = None,
    ):
        self._appender = appender
        self._reactor = reactor
        self._stats = stats
        self._max_batch_bytes = max_batch_bytes
        self._max_pending_bytes = max_pending_bytes
        self._ids = ids or RecordIds()
        self._queue: deque[tuple[SpoolRecord, Deferred[SpoolRecord], int]] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._stopped: Deferred[None] | None = None
        self.pending_bytes = 0
        self.failing: str | None = None
        self._probe_wanted = False
        self.on_acked = on_acked  # the ledger counts records before their 200 goes out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, path: str, body: bytes, received_ns: int,
               headers: dict[str, str] | None = None,
               client_ip: str | None = None) -> Deferred[SpoolRecord]:
        """Queue a submission; the Deferred fires with the record once it is durable.

        Fails at once with SpoolSaturated when too much is waiting, or later
        with SpoolWriteFailed if its batch could not be synced.
        """
        size = len(body) + len(path) + OVERHEAD
        if self._stopping:
            raise SpoolSaturated("the spool writer is stopping")
        if self.pending_bytes + size > self._max_pending_bytes:
            raise SpoolSaturated(f"{self.pending_bytes} bytes are waiting for the disk")
        record = SpoolRecord(record_id=self._ids.next(), received_ns=received_ns, path=path,
                             body=body, headers=headers or {}, client_ip=client_ip)
        d: Deferred[SpoolRecord] = Deferred()
        self.pending_bytes += size
        with self._cond:
            self._queue.append((record, d, size))
            self._cond.notify()
        return d

    def probe_if_failing(self, _guard: object = None) -> None:
        """While writes fail, ask the writer thread to try a synced write of a fresh file;
        if it succeeds, `failing` clears (on the reactor thread) without any submission."""
        if self.failing and not self._probe_wanted:
            with self._cond:
                self._probe_wanted = True
                self._cond.notify()

    def stop(self) -> Deferred[None]:
        """Write what is queued, then stop the thread; fires when it has exited."""
        if self._stopped is None:
            self._stopped = Deferred()
            with self._cond:
                self._stopping = True
                self._cond.notify()
            if self._thread is None:
                self._stopped.callback(None)
        return self._stopped

    # -- the writer thread --------------------------------------------------

    def _next_batch(self) -> list[tuple[SpoolRecord, Deferred[SpoolRecord], int]] | None:
        """Wait for work; [] means "check rotation", None means "exit"."""
        with self._cond:
            if not self._queue and not self._stopping:
                self._cond.wait(self._appender.seconds_until_rotation())
            if not self._queue:
                return None if self._stopping else []
            batch: list[tuple[SpoolRecord, Deferred[SpoolRecord], int]] = []
            size = 0
            while self._queue and (not batch or size + self._queue[0][2] <= self._max_batch_bytes):
                item = self._queue.popleft()
                batch.append(item)
                size += item[2]
            return batch

    def _run(self) -> None:
        try:
            self._adopt_existing()
            while (batch := self._next_batch()) is not None:
                if batch:
                    result = self._append([item[0] for item in batch])
                    self._reactor.callFromThread(self._deliver, batch, result)
                else:
                    self._rotate_if_due()
                if self._probe_wanted:
                    self._probe()
        finally:
            self._appender.close()
            if self._stopped is not None:
                self._reactor.callFromThread(self._stopped.callback, None)

    def _append(self, records: list[SpoolRecord]) -> AppendResult:
        try:
            return self._appender.append(records)
        except OSError as e:  # e.g. sealing failed; the batch is not durable
            return AppendResult(acked=0, error=e)
        except (ValueError, TypeError) as e:  # a record that cannot be framed: never kill
            return AppendResult(acked=0, error=OSError(errno.EINVAL, f"cannot frame: {e}"))

    def _probe(self) -> None:
        with self._cond:
            self._probe_wanted = False
        try:
            self._appender.spool.probe()
        except OSError as e:
            self._reactor.callFromThread(self._probed, e)
        else:
            self._reactor.callFromThread(self._probed, None)

    def _adopt_existing(self) -> None:
        try:
            self._appender.adopt_existing()
        except OSError as e:  # the next append reports the spool's state
            self._reactor.callFromThread(self._note_error, e)

    def _rotate_if_due(self) -> None:
        try:
            sealed = self._appender.maybe_rotate()
        except OSError as e:
            self._reactor.callFromThread(self._note_error, e)
            return
        if sealed:
            self._reactor.callFromThread(self._note_sealed)

    # -- back on the reactor thread -----------------------------------------

    def _note_sealed(self) -> None:
        self._stats.spool_segments_sealed += 1

    def _probed(self, error: OSError | None) -> None:
        if error is None and self.failing:
            log.info("spool writes succeed again (a probe write was synced)")
            self.failing = None

    def _note_error(self, error: OSError) -> None:
        self._stats.spool_errors[_error_name(error)] += 1
        self.failing = f"spool: {error}"
        log.error("spool error: {error}", error=str(error))

    def _deliver(self, batch: list[tuple[SpoolRecord, Deferred[SpoolRecord], int]],
                 result: AppendResult) -> None:
        stats = self._stats
        stats.spool_batches += 1
        stats.spool_segments_sealed += result.sealed
        stats.spool_reappends += int(result.reappended)
        if result.acked:
            stats.fsync_latency.add(result.sync_seconds)
        if result.error is not None:
            self._note_error(result.error)
        elif self.failing:
            log.info("spool writes succeed again")
            self.failing = None
        if result.acked and self.on_acked is not None:
            self.on_acked([item[0] for item in batch[:result.acked]])
        for i, (record, d, size) in enumerate(batch):
            self.pending_bytes -= size
            if i < result.acked:
                stats.spool_records += 1
                stats.spool_bytes += size
                d.callback(record)
            else:
                d.errback(SpoolWriteFailed(result.error or OSError("spool write failed")))


def _error_name(error: OSError) -> str:
    """A short name for counting errors: ENOSPC, EFBIG, EIO..."""
    return errno.errorcode.get(error.errno or 0, "EIO")
