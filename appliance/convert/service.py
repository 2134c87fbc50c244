"""Running the converter loop as a child process of `appliance serve`.

The child leads a process group holding its worker processes (`[converter]
processes`), and the supervisor signals the group (supervise.py).

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

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from appliance.supervise import Supervisor

log = Logger()

MAX_BACKOFF = 60.0


class ConverterService:
    """Keeps one converter child running (supervise.py); keeps its counters in `stats`."""

    def __init__(self, reactor, argv: list[str], stats, env: dict[str, str] | None = None):
        self.stats = stats
        self.supervisor = Supervisor(reactor, "converter", argv,
                                     env=env if env is not None else dict(os.environ),
                                     on_report=self.progress, on_ended=self.ended,
                                     max_delay=MAX_BACKOFF, group=True)
        self._quarantined_before = 0  # by children that have exited
        self._quarantined_now = 0     # by the running child

    @property
    def running(self) -> bool:
        """Whether the converter child runs now."""
        return self.supervisor.running

    @property
    def restarts(self) -> int:
        """How many times the converter child was restarted since the server started."""
        return self.supervisor.restarts

    @property
    def quarantined(self) -> int:
        """Records quarantined (reason converter_crash) since the server started."""
        return self._quarantined_before + self._quarantined_now

    @property
    def paused(self) -> str | None:
        """Why the running converter is not writing to the store (disk low), or None."""
        return self.stats.converter.get("paused") if self.running else None

    def start(self) -> None:
        """Start the child. Its readiness is not awaited: it first reports at its first
        commit, and a child that dies before is restarted (and logged) like any other."""
        self.supervisor.start().addErrback(lambda _: None)

    def ended(self, code, sig) -> None:
        """A child is gone: what it quarantined is now history."""
        self._quarantined_before += self._quarantined_now
        self._quarantined_now = 0

    def progress(self, counts: dict) -> None:
        """The child committed a generation (or paused): keep its counters."""
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
        log.info("converter: {converted} converted, {invalid} invalid, {files} files in "
                 "{commits} commits{idle}", converted=counts.get("converted"),
                 invalid=counts.get("invalid"), files=counts.get("files"),
                 commits=counts.get("commits"), idle=" (idle)" if counts.get("idle") else "")

    def stop(self, grace: float | None = None) -> Deferred:
        """SIGTERM the child (SIGKILL after `grace`, see Supervisor.stop); fires with its
        exit code once it has committed and exited."""
        return self.supervisor.stop(grace)
