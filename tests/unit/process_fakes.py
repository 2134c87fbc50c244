"""A reactor that spawns no process: what supervisors spawn and signal, recorded."""

from __future__ import annotations

import signal

from twisted.internet.error import ProcessExitedAlready
from twisted.internet.task import Clock
from twisted.python.failure import Failure


class FakeTransport:
    """A child process's transport: records the signals sent to it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.signals: list[int] = []
        self.gone = False

    def signalProcess(self, sig):
        if self.gone:
            raise ProcessExitedAlready()
        self.signals.append(sig)


class ProcessReactor(Clock):
    """A Clock that records spawnProcess calls instead of starting processes."""

    def __init__(self):
        super().__init__()
        self.spawned: list[tuple] = []  # (protocol, argv, transport)

    def spawnProcess(self, protocol, executable, argv, env=None, childFDs=None):
        transport = FakeTransport(1000 + len(self.spawned))
        protocol.transport = transport
        protocol.makeConnection(transport)
        self.spawned.append((protocol, argv, transport))
        return transport


class Ended(Exception):
    """What a ProcessProtocol's processEnded gets: an exit code or a signal."""

    def __init__(self, code, sig):
        super().__init__(code, sig)
        self.exitCode, self.signal = code, sig


def end(protocol, code=None, sig=signal.SIGKILL) -> None:
    """The process of `protocol` is gone, with exit `code` or killed by `sig`."""
    protocol.transport.gone = True
    protocol.processEnded(Failure(Ended(code, sig)))
