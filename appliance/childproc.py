"""The server's long-lived children (converter, receivers) as seen from the reactor: each
reports one JSON object per line on stdout, and its stderr goes to the server's log."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

from twisted.internet import protocol
from twisted.logger import Logger

log = Logger()


def spawn_child(reactor, process_protocol, argv: list[str], *, env, child_fds: dict):
    """`reactor.spawnProcess(...)` with SIGINT blocked in the child.

    A Ctrl-C at the terminal goes to the whole foreground process group. Only the
    server must act on it: it stops its children itself, with SIGTERM, after the
    drain. A child still starting (the one-file binary unpacking, Python importing)
    would otherwise die of it with a KeyboardInterrupt traceback. The child inherits
    the spawning thread's signal mask through fork/posix_spawn and exec; the server's
    own mask is restored at once.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return reactor.spawnProcess(process_protocol, argv[0], argv, env=env,
                                    childFDs=child_fds)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class ReportingChild(protocol.ProcessProtocol):
    """Calls `on_report(obj)` for each JSON line the child prints and `on_ended(exit code,
    signal)` when it is gone; logs its stderr lines as ``<label>: <line>``."""

    def __init__(self, label: str, on_report: Callable[[dict], None],
                 on_ended: Callable[[int | None, int | None], None]):
        self.label = label
        self.on_report = on_report
        self.on_ended = on_ended
        self._buffer = b""

    def outReceived(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                report = json.loads(line)
            except ValueError:
                log.warn("{label} said: {line}", label=self.label,
                         line=line.decode(errors="replace"))
                continue
            self.on_report(report)

    def errReceived(self, data: bytes) -> None:
        for line in data.decode(errors="replace").splitlines():
            if line.strip():
                log.info("{label}: {line}", label=self.label, line=line)

    def processEnded(self, reason) -> None:
        self.on_ended(reason.value.exitCode, reason.value.signal)
