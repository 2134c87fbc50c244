"""`[receiver] processes = N`: N receiver child processes on one port, run by the server.

Each child binds the public address with SO_REUSEPORT, so the kernel spreads
new connections across the children; each runs its own spool writer,
appending to the shared spool through the atomic-append protocol (DESIGN
3.2), and reports its counters as one JSON line per second on stdout, which
the parent adds to its Stats. The parent keeps the address bound (not
listening), so that port 0 picks one port for all of them and no other
program takes it while a child restarts. Each child has its own supervisor
(supervise.py): a child that dies is restarted with backoff; children die with
the parent.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure

from appliance.reactortype import IServiceReactor
from appliance.receiver.report import apply
from appliance.spool.record import SpoolRecord
from appliance.stats import Stats
from appliance.supervise import Supervisor

MAX_BACKOFF = 30.0


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port with SO_REUSEPORT (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class ReceiverPool:
    """Keeps `count` receiver children running on one address; adds up their counters."""

    def __init__(self, reactor: IServiceReactor, argv: list[str], count: int, stats: Stats, *,
                 env: dict[str, str] | None = None,
                 on_acked: Callable[[list[SpoolRecord]], None] | None = None,
                 bind: Callable[[str, int], socket.socket] = bound_socket):
        self.reactor = reactor
        self.argv = argv  # the worker command, without --listen
        self.count = count
        self.stats = stats
        self.env = env if env is not None else dict(os.environ)
        self.on_acked = on_acked
        self._bind = bind
        self._reservation: socket.socket | None = None
        self._children: list[Supervisor] = []
        self._connections: dict[int, int] = {}
        self._failing: dict[int, str] = {}  # slot -> its spool's failure, as last reported
        # Set by stop(): no child was restarted and each exited 0 after its last report, so
        # every record the children appended was reported (and counted by `on_acked`).
        self.reported_all = False

    def start(self, host: str, port: int) -> Deferred[int]:
        """Bind host:port and start the children; fires with the port once all listen."""
        self._reservation = self._bind(host, port)
        port = self._reservation.getsockname()[1]
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._children = [self._child(slot, [*self.argv, "--listen", listen])
                          for slot in range(self.count)]
        ready = [child.start() for child in self._children]
        return DeferredList(ready, fireOnOneErrback=True, consumeErrors=True).addCallbacks(
            lambda _: port, lambda failure: failure.value.subFailure)

    def _child(self, slot: int, argv: list[str]) -> Supervisor:
        return Supervisor(self.reactor, f"receiver process {slot}", argv, env=self.env,
                          on_report=lambda report: self.reported(slot, report),
                          on_ended=lambda code, sig: self.ended(slot),
                          max_delay=MAX_BACKOFF)

    @property
    def restarts(self) -> int:
        """How many times a child was restarted, all slots together."""
        return sum(child.restarts for child in self._children)

    @property
    def pids(self) -> list[int]:
        """The running children's process ids."""
        return [child.pid for child in self._children if child.pid]

    @property
    def failing(self) -> str | None:
        """Why a child's spool writes fail (as it last reported), or None."""
        return "; ".join(f"receiver process {slot}: {why}"
                         for slot, why in sorted(self._failing.items())) or None

    def reported(self, slot: int, report: dict[str, Any]) -> None:
        """A child's counters since its last report (its first says it is listening)."""
        apply(self.stats, report, self.on_acked)
        if report.get("failing"):
            self._failing[slot] = report["failing"]
        else:
            self._failing.pop(slot, None)
        self._connections[slot] = report["open_connections"]
        self.stats.open_connections = sum(self._connections.values())

    def ended(self, slot: int) -> None:
        """A child is gone: its connections and its failure go with it."""
        self._connections[slot] = 0
        self._failing.pop(slot, None)  # its successor reports afresh
        self.stats.open_connections = sum(self._connections.values())

    def stop(self, grace: float | None = None) -> Deferred[Failure | None]:
        """SIGTERM every child (each drains its spool writer; SIGKILL after `grace` or when
        the wait is cancelled); fires when all have exited."""
        d = DeferredList([child.stop(grace) for child in self._children], consumeErrors=True)
        return d.addCallback(self._stopped)

    def _stopped(self, results: list[tuple[bool, Any]]) -> Failure | None:
        """Release the address; a child's stop given up on (cancelled) is the pool's."""
        self.reported_all = self.restarts == 0 and all(ok and code == 0 for ok, code in results)
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None
        for ok, value in results:
            if not ok and isinstance(value, Failure):
                return value
        return None
