"""Spawning the server's children (converter, receivers, job workers) from the reactor."""

from __future__ import annotations

import signal
from collections.abc import Mapping

from twisted.internet.interfaces import IProcessProtocol, IProcessTransport, IReactorProcess


def spawn_child(reactor: IReactorProcess, process_protocol: IProcessProtocol, argv: list[str],
                *, env: Mapping[str, str], child_fds: dict[int, int | str]) -> IProcessTransport:
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
