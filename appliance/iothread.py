"""One named thread for blocking file work, so the reactor thread never waits on a disk."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

_Result = TypeVar("_Result")


class IOThread:
    """Runs blocking calls (rmtree, small file writes) one at a time, in the order given:
    a write queued after another lands after it."""

    def __init__(self, reactor: IReactorFromThreads, name: str):
        self.reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=1, name=name)

    def start(self) -> None:
        self._pool.start()

    def stop(self) -> None:
        """Stop the thread once the work queued so far is done (blocks until then)."""
        self._pool.stop()

    def __call__(self, f: Callable[..., _Result], *args: object) -> Deferred[_Result]:
        """`f(*args)` on the thread; the Deferred fires on the reactor with its result."""
        return deferToThreadPool(self.reactor, self._pool, f, *args)
