"""The reactor as the services are given it, as one type for the type checker.

Only the entry point imports the global reactor; every service takes it as an
argument. A service uses several of Twisted's reactor interfaces (a clock, a
thread pool, child processes, listening ports), so its parameter is typed with
`IServiceReactor`, which extends them all (as Twisted types its own global
reactor with the interfaces every reactor has). The entry point hands the
reactor over through `service_reactor`, which checks that it provides them.
"""

from __future__ import annotations

from typing import cast

from twisted.internet.interfaces import (
    IReactorCore,
    IReactorProcess,
    IReactorSocket,
    IReactorTCP,
    IReactorThreads,
    IReactorTime,
    IReactorUNIX,
)


class IServiceReactor(IReactorCore, IReactorTime, IReactorThreads, IReactorProcess,
                      IReactorSocket, IReactorTCP, IReactorUNIX):
    """What the server and its services use of the reactor: running and stopping, time,
    threads, processes, ports."""


def service_reactor(reactor: object) -> IServiceReactor:
    """`reactor` as the services take it; TypeError if it lacks one of the interfaces."""
    missing = [i.__name__ for i in IServiceReactor.getBases() if not i.providedBy(reactor)]
    if missing:
        raise TypeError(f"the reactor {reactor!r} does not provide {', '.join(missing)}")
    # It provides each interface IServiceReactor extends, which is all it stands for.
    return cast(IServiceReactor, reactor)
