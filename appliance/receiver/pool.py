"""`[receiver] processes = N`: N receiver child processes on one port, run by the server.

Each child binds the public address with SO_REUSEPORT, so the kernel spreads
new connections across the children; each runs its own spool writer,
appending to the shared spool through the atomic-append protocol (DESIGN
3.2), and reports its counters as one JSON line per second on stdout, which
the parent adds to its Stats. The parent keeps the address bound (not
listening), so that port 0 picks one port for all of them and no other
program takes it while a child restarts. A child that dies is restarted with
backoff; children die with the parent.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger

from appliance.childproc import ReportingChild, spawn_child
from appliance.receiver.report import apply
from appliance.spool.record import SpoolRecord
from appliance.stats import Stats

log = Logger()

MIN_BACKOFF = 1.0
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


class _Receiver(ReportingChild):
    def __init__(self, pool: ReceiverPool, slot: int):
        super().__init__(f"receiver {slot}", lambda report: pool.reported(slot, report),
                         lambda code, sig: pool.ended(slot, code, sig))
        self.slot = slot

    def connectionMade(self) -> None:
        log.info("receiver process {slot} started (pid {pid})", slot=self.slot,
                 pid=self.transport.pid)


class ReceiverPool:
    """Keeps `count` receiver children running on one address; adds up their counters."""

    def __init__(self, reactor, argv: list[str], count: int, stats: Stats, *,
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
        self.restarts = 0
        self._reservation: socket.socket | None = None
        self._listen = ""
        self._transports: dict[int, object] = {}
        self._connections: dict[int, int] = {}
        self._failing: dict[int, str] = {}  # slot -> its spool's failure, as last reported
        self._backoff: dict[int, float] = {}
        self._restart_calls: dict[int, object] = {}
        self._ready: dict[int, Deferred] = {}
        self._stopping = False
        self._exited: dict[int, Deferred] = {}

    def start(self, host: str, port: int) -> Deferred:
        """Bind host:port and start the children; fires with the port once all listen."""
        self._reservation = self._bind(host, port)
        port = self._reservation.getsockname()[1]
        self._listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        for slot in range(self.count):
            self._spawn(slot)
        return DeferredList(list(self._ready.values()), fireOnOneErrback=True,
                            consumeErrors=True).addCallback(lambda _: port)

    def _spawn(self, slot: int) -> None:
        self._restart_calls.pop(slot, None)
        self._ready[slot] = Deferred()
        self._exited[slot] = Deferred()
        argv = [*self.argv, "--listen", self._listen]
        self._transports[slot] = spawn_child(
            self.reactor, _Receiver(self, slot), argv, env=self.env,
            child_fds={0: "w", 1: "r", 2: "r"})

    @property
    def pids(self) -> list[int]:
        """The running children's process ids."""
        return [t.pid for t in self._transports.values() if t is not None and t.pid]

    @property
    def failing(self) -> str | None:
        """Why a child's spool writes fail (as it last reported), or None."""
        return "; ".join(f"receiver process {slot}: {why}"
                         for slot, why in sorted(self._failing.items())) or None

    def reported(self, slot: int, report: dict) -> None:
        """A child's counters since its last report (its first says it is listening)."""
        apply(self.stats, report, self.on_acked)
        if report.get("failing"):
            self._failing[slot] = report["failing"]
        else:
            self._failing.pop(slot, None)
        self._connections[slot] = report["open_connections"]
        self.stats.open_connections = sum(self._connections.values())
        self._backoff[slot] = MIN_BACKOFF
        if not self._ready[slot].called:
            self._ready[slot].callback(slot)

    def ended(self, slot: int, code, sig) -> None:
        self._transports[slot] = None
        self._connections[slot] = 0
        self._failing.pop(slot, None)  # its successor reports afresh
        self.stats.open_connections = sum(self._connections.values())
        ready = self._ready[slot]
        self._exited[slot].callback(code)
        if self._stopping:
            return
        if not ready.called:
            ready.errback(RuntimeError(f"receiver process {slot} exited before listening "
                                       f"(code {code}, signal {sig})"))
        delay = self._backoff.get(slot, MIN_BACKOFF)
        self.restarts += 1
        log.error("receiver process {slot} exited (code {code}, signal {sig}); restarting "
                  "in {delay}s", slot=slot, code=code, sig=sig, delay=delay)
        self._restart_calls[slot] = self.reactor.callLater(delay, self._spawn, slot)
        self._backoff[slot] = min(delay * 2, MAX_BACKOFF)

    def stop(self) -> Deferred:
        """SIGTERM every child (each drains its spool writer); fires when all have exited."""
        self._stopping = True
        for call in self._restart_calls.values():
            if call.active():
                call.cancel()
        for transport in self._transports.values():
            if transport is not None:
                transport.signalProcess(signal.SIGTERM)
        d = DeferredList([d for d in self._exited.values() if not d.called])
        d.addCallback(lambda _: self._release())
        return d

    def _release(self) -> None:
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None
