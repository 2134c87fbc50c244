"""Running the converter loop as a child process of `appliance serve`.

A child process keeps conversion (CPU-bound JSON work) off the reactor's core
and isolates it: if it dies it is restarted with backoff, and whatever it had
not committed is redone from the last checkpoint. It reports its counters as
one JSON line per commit (and when it pauses or resumes) on stdout; SIGTERM
makes it stop at a record boundary, commit, and exit. A record that kills it
again and again is quarantined by the child itself (crashguard.py); this
service logs that as an error and counts it across restarts.
"""

from __future__ import annotations

import os
import signal

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from appliance.childproc import ReportingChild, spawn_child

log = Logger()

MIN_BACKOFF = 1.0
MAX_BACKOFF = 60.0


class ConverterService:
    """Keeps one converter child running; restarts it with backoff if it dies."""

    def __init__(self, reactor, argv: list[str], stats, env: dict[str, str] | None = None):
        self.reactor = reactor
        self.argv = argv
        self.stats = stats
        self.env = env if env is not None else dict(os.environ)
        self.restarts = 0
        self.running = False
        self._transport = None
        self._stopping: Deferred | None = None
        self._backoff = MIN_BACKOFF
        self._restart_call = None
        self._quarantined_before = 0  # by children that have exited
        self._quarantined_now = 0     # by the running child

    @property
    def quarantined(self) -> int:
        """Records quarantined (reason converter_crash) since the server started."""
        return self._quarantined_before + self._quarantined_now

    @property
    def paused(self) -> str | None:
        """Why the running converter is not writing to the store (disk low), or None."""
        return self.stats.converter.get("paused") if self.running else None

    def start(self) -> None:
        self._transport = spawn_child(
            self.reactor, ReportingChild("converter", self.progress, self.ended), self.argv,
            env=self.env, child_fds={0: "w", 1: "r", 2: "r"})
        self.running = True

    def ended(self, code, sig) -> None:
        self.running = False
        self._transport = None
        self._quarantined_before += self._quarantined_now
        self._quarantined_now = 0
        if self._stopping is not None:
            self._stopping.callback(code)
            return
        self.restarts += 1
        log.error("converter exited (code {code}, signal {sig}); restarting in {delay}s",
                  code=code, sig=sig, delay=self._backoff)
        self._restart_call = self.reactor.callLater(self._backoff, self.start)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    def progress(self, counts: dict) -> None:
        """The child committed a generation (or paused): keep its counters, reset the backoff."""
        quarantined = counts.get("quarantined", 0)
        if quarantined > self._quarantined_now:
            log.error("converter: the record at {where} crashed the converter again and again; "
                      "quarantined in invalid/ (reason converter_crash)",
                      where=counts.get("last_quarantined"))
        self._quarantined_now = quarantined
        paused, was = counts.get("paused"), self.stats.converter.get("paused")
        if paused and paused != was:
            log.warn("converter paused: {reason}; resuming when space returns", reason=paused)
        elif was and not paused:
            log.info("converter resumed: disk space is back")
        self.stats.converter = dict(counts, quarantined=self.quarantined)
        self._backoff = MIN_BACKOFF
        log.info("converter: {converted} converted, {invalid} invalid, {files} files in "
                 "{commits} commits{idle}", converted=counts.get("converted"),
                 invalid=counts.get("invalid"), files=counts.get("files"),
                 commits=counts.get("commits"), idle=" (idle)" if counts.get("idle") else "")

    def stop(self) -> Deferred:
        """SIGTERM the child; fires with its exit code once it has committed and exited."""
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        self._stopping = Deferred()
        if self._transport is None:
            self._stopping.callback(None)
        else:
            self._transport.signalProcess(signal.SIGTERM)
        return self._stopping
