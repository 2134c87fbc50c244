"""One receiver child process (`[receiver] processes` > 1): see pool.py.

It listens on the shared address with SO_REUSEPORT, spools through its own
writer (its own record-id prefix) into the shared spool, and writes one
report line per second to `out`; the first line, written once it listens,
tells the parent it is ready. On stop it drains as `appliance serve` does
(closes its port, answers the requests in flight and closes their
connections, writes what is queued, within `[server] shutdown_timeout`) and
sends a last report.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IProtocolFactory, IReactorCore
from twisted.internet.task import LoopingCall
from twisted.protocols.tls import TLSMemoryBIOFactory

from appliance.config import Config
from appliance.lifecycle import Deadline
from appliance.reactortype import IServiceReactor
from appliance.receiver.pool import bound_socket
from appliance.receiver.report import AckedRecords, take
from appliance.receiver.stack import ReceiverStack
from appliance.receiver.tls import server_options
from appliance.stats import Stats

BACKLOG = 511
REPORT_SECONDS = 1.0


class ReceiverWorker:
    """The receiver stack (stack.py) in a child of `appliance serve`, reporting on `out`."""

    def __init__(self, config: Config, reactor: IServiceReactor, host: str, port: int,
                 tls: tuple[Path, Path] | None, out: TextIO):
        self.config = config
        self.reactor = reactor
        self.host, self.port = host, port
        self.tls = tls
        self.out = out
        self.stats = Stats(reactor.seconds)
        self.acked = AckedRecords()
        self._reporting = LoopingCall(self._report)
        self._reporting.clock = reactor
        self.stack = ReceiverStack(config, reactor, self.stats, on_acked=self.acked)

    def start(self) -> None:
        """Start the writer and the disk guard, listen, and report that it listens."""
        self.stack.start()
        factory: IProtocolFactory = self.stack.factory
        if self.tls is not None:
            options = server_options(*self.tls, self.config.receiver.tls_ciphers)
            factory = TLSMemoryBIOFactory(options, False, factory)
        sock = bound_socket(self.host, self.port)
        try:
            sock.listen(BACKLOG)
            sock.setblocking(False)
            # Twisted's annotation wants a ServerFactory; any protocol factory serves
            self.stack.serve(self.reactor.adoptStreamPort(sock.fileno(), sock.family,
                                                          factory))  # type: ignore[arg-type]
        finally:
            sock.close()  # the port holds its own duplicate
        self._report()
        self._reporting.start(REPORT_SECONDS, now=False)

    def _report(self) -> None:
        self.out.write(take(self.stats, self.acked, self.stack.writer.failing).decode())
        self.out.flush()

    async def stop(self) -> None:
        """Drain the stack within `[server] shutdown_timeout` and send the last counters."""
        if self._reporting.running:
            self._reporting.stop()
        await self.stack.stop(Deadline(self.reactor, self.config.server.shutdown_timeout))
        self._report()


def run(worker: ReceiverWorker, reactor: IReactorCore, err: TextIO) -> int:
    """Run `worker` on `reactor` until SIGTERM/SIGINT; returns the exit code."""
    outcome = {"code": 0}

    def start() -> None:
        try:
            worker.start()
        except Exception as e:  # e.g. the address cannot be bound: say why, exit 1
            err.write(f"cannot start: {e}\n")
            outcome["code"] = 1
            reactor.stop()

    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown",
                                  lambda: Deferred.fromCoroutine(worker.stop()))
    reactor.run()
    return outcome["code"]
