"""Keeping one long-lived child process running (the converter, each receiver child).

The shape of Twisted's procmon, with what the server's children need on top:

- the child reports one JSON object per line on stdout; its first line says it
  is ready (`Supervisor.ready`), every line goes to `on_report`;
- its stderr is logged one line at a time as ``<label>: <line>`` (a line split
  across two reads is still one line);
- a child that dies is restarted after a delay that doubles from `MIN_DELAY` up to
  `max_delay`; a report, or `reset_after` seconds of running, starts the delays
  over (the child made progress: its death is news, not a crash loop);
- `stop(grace)` sends SIGTERM, then SIGKILL if the child is still there `grace`
  seconds later, or at once when the waiting is cancelled (the server's shutdown
  deadline gives up on it).

A child that starts helper processes of its own (the converter's worker
processes, `[converter] processes`) is supervised with `group=True`: it makes
itself a process group leader (`lifecycle.lead_process_group`) and every signal
goes to its whole group. Its helpers are part of it: a helper that dies makes the
child exit (and be restarted, with the backoff above, from its last commit),
SIGTERM reaches them as well (they ignore it and stop when their parent tells them),
and SIGKILL ends them together with it. Until the child has made its group, its
signals go to it alone.

Children are spawned with SIGINT blocked (`childproc.spawn_child`); that they die with the
server (PR_SET_PDEATHSIG) is the child's own business (`lifecycle.die_with_parent`).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from typing import Any

from twisted.internet import protocol
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.interfaces import IDelayedCall, IProcessTransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from appliance.childproc import spawn_child
from appliance.reactortype import IServiceReactor

log = Logger()

MIN_DELAY = 1.0
RESET_AFTER = 30.0
GRACE = 30.0


class ChildExited(Exception):
    """The child ended before its first report (before it said it was ready)."""


def _lines(buffer: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines in `buffer + data`, and what is left of an unfinished one."""
    *lines, rest = (buffer + data).split(b"\n")
    return lines, rest


class _Child(protocol.ProcessProtocol):
    """One run of the child: splits its output into lines for the supervisor."""

    def __init__(self, supervisor: Supervisor):
        self.supervisor = supervisor
        self._out = b""
        self._err = b""

    def outReceived(self, data: bytes) -> None:
        lines, self._out = _lines(self._out, data)
        for line in lines:
            self.supervisor._line(line)

    def errReceived(self, data: bytes) -> None:
        lines, self._err = _lines(self._err, data)
        for line in lines:
            self.supervisor._said(line)

    def processEnded(self, reason: Failure) -> None:
        if self._err:
            self.supervisor._said(self._err)
        self.supervisor._ended(self, reason.value.exitCode, reason.value.signal)


class Supervisor:
    """Keeps one child process running; see the module docstring."""

    def __init__(self, reactor: IServiceReactor, label: str, argv: list[str], *,
                 env: dict[str, str], on_report: Callable[[dict[str, Any]], None],
                 on_ended: Callable[[int | None, int | None], None] = lambda code, sig: None,
                 max_delay: float = 60.0, reset_after: float = RESET_AFTER,
                 grace: float = GRACE, group: bool = False):
        """`on_report(obj)` gets each JSON line; `on_ended(exit code, signal)` is called
        when a child is gone, before any restart; `grace` is stop()'s default; with
        `group`, signals go to the child's process group (see the module docstring)."""
        self.reactor = reactor
        self.label = label
        self.argv = argv
        self.env = env
        self.on_report = on_report
        self.on_ended = on_ended
        self.max_delay = max_delay
        self.reset_after = reset_after
        self.grace = grace
        self.group = group
        self.restarts = 0
        self.delay = MIN_DELAY  # before the next restart
        self.ready: Deferred[Supervisor] = Deferred()  # the first child's first report (see start)
        self._child: _Child | None = None
        self._transport: IProcessTransport | None = None
        self._started_at = 0.0
        self._reported = False
        self._restart_call: IDelayedCall | None = None
        self._kill_call: IDelayedCall | None = None
        self._stopped: Deferred[int | None] | None = None

    @property
    def running(self) -> bool:
        """Whether a child process is running now."""
        return self._transport is not None

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self._transport.pid if self._transport is not None else None

    def start(self) -> Deferred[Supervisor]:
        """Spawn the child; returns `ready`, which fires once it reported, or fails with
        ChildExited if it ended first (its restarts go on either way)."""
        self._spawn()
        return self.ready

    def _spawn(self) -> None:
        self._restart_call = None
        self._child = _Child(self)
        self._reported = False
        self._started_at = self.reactor.seconds()
        transport = self._transport = spawn_child(self.reactor, self._child, self.argv,
                                                  env=self.env,
                                                  child_fds={0: "w", 1: "r", 2: "r"})
        log.info("{label} started (pid {pid})", label=self.label, pid=transport.pid)

    def _line(self, line: bytes) -> None:
        try:
            report = json.loads(line)
        except ValueError:
            log.warn("{label} said: {line}", label=self.label,
                     line=line.decode(errors="replace"))
            return
        self._reported = True
        self.delay = MIN_DELAY
        self.on_report(report)
        if not self.ready.called:
            self.ready.callback(self)

    def _said(self, line: bytes) -> None:
        text = line.decode(errors="replace").rstrip()
        if text.strip():
            log.info("{label}: {line}", label=self.label, line=text)

    def _ended(self, child: _Child, code: int | None, sig: int | None) -> None:
        if child is not self._child:
            return
        self._child = self._transport = None
        if self._kill_call is not None and self._kill_call.active():
            self._kill_call.cancel()
        self.on_ended(code, sig)
        if not self._reported and not self.ready.called:
            self.ready.errback(ChildExited(
                f"{self.label} exited before it was ready (code {code}, signal {sig})"))
        if self._stopped is not None:
            if not self._stopped.called:  # else cancelled: the waiting was given up
                self._stopped.callback(code)
            return
        if self.reactor.seconds() - self._started_at >= self.reset_after:
            self.delay = MIN_DELAY
        delay, self.delay = self.delay, min(self.delay * 2, self.max_delay)
        self.restarts += 1
        log.error("{label} exited (code {code}, signal {sig}); restarting in {delay}s",
                  label=self.label, code=code, sig=sig, delay=delay)
        self._restart_call = self.reactor.callLater(delay, self._spawn)

    def stop(self, grace: float | None = None) -> Deferred[int | None]:
        """SIGTERM the child, SIGKILL it `grace` seconds later (default: the constructor's)
        or when the returned Deferred is cancelled; it fires with the exit code once the
        child is gone (None if none was running). No restart follows."""
        if self._restart_call is not None and self._restart_call.active():
            self._restart_call.cancel()
        if self._stopped is not None:
            return self._stopped
        self._stopped = Deferred(lambda _: self._kill())
        if self._transport is None:
            self._stopped.callback(None)
            return self._stopped
        self._signal(signal.SIGTERM)
        self._kill_call = self.reactor.callLater(
            self.grace if grace is None else grace, self._kill)
        return self._stopped

    def _kill(self) -> None:
        if self._transport is not None:
            log.warn("{label} still running after SIGTERM: SIGKILL", label=self.label)
            self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self._transport is None:
            return
        if self.group and self._signal_group(self._transport.pid, sig):
            return
        try:
            self._transport.signalProcess(sig)
        except ProcessExitedAlready:
            pass  # its end is on its way to _ended

    @staticmethod
    def _signal_group(pid: int | None, sig: int) -> bool:
        """Signal the group led by `pid`; False if there is none yet (or any more)."""
        if pid is None:
            return False
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return False
        return True
