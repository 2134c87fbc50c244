"""Thread pools without threads, for code that defers to a pool (deferToThreadPool)."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.python.failure import Failure


class ThreadReactor(Clock):
    """A Clock whose callFromThread runs the call at once (the "thread" is this one)."""

    def callFromThread(self, f, *args, **kwargs):
        f(*args, **kwargs)


class QueuedPool:
    """A thread pool whose work waits until the test runs it (`run_all`)."""

    def __init__(self):
        self.queue: list = []

    def start(self):
        pass

    def stop(self):
        pass

    def callInThreadWithCallback(self, on_result, f, *args, **kwargs):
        self.queue.append((on_result, f, args, kwargs))

    def run_all(self) -> int:
        """Run the queued work in order (and what it queues); returns how many jobs ran."""
        ran = 0
        while self.queue:
            on_result, f, args, kwargs = self.queue.pop(0)
            try:
                result = f(*args, **kwargs)
            except Exception:
                on_result(False, Failure())
            else:
                on_result(True, result)
            ran += 1
        return ran


class InlinePool(QueuedPool):
    """A thread pool that runs its work at once, on the caller's thread."""

    def callInThreadWithCallback(self, on_result, f, *args, **kwargs):
        super().callInThreadWithCallback(on_result, f, *args, **kwargs)
        self.run_all()
