"""Process lifecycle: one server per data dir, bounded shutdowns, dying with the parent."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from appliance.datadir import DataDir

log = Logger()

_PR_SET_PDEATHSIG = 1


class AlreadyLocked(Exception):
    """Another process holds the lock."""


class DataDirInUse(Exception):
    """Another `appliance serve` runs on this data dir; the message names it and its pid."""


def lock_exclusive(path: Path, wait: bool) -> int:
    """Hold an exclusive flock on `path` for the life of the process; returns the fd.

    With `wait` false, raise AlreadyLocked if another process has it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        raise AlreadyLocked(str(path)) from None
    return fd


def hold_data_dir(data_dir: Path) -> int:
    """Make this process the only server on `data_dir` and write its pid into the lock.

    The flock goes away with the process (even after kill -9), so a stale lock
    file never blocks a restart. Raises DataDirInUse naming the holder's pid.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = DataDir(data_dir).server_lock  # holds the pid of the server using the data dir
    try:
        fd = lock_exclusive(path, wait=False)
    except AlreadyLocked:
        raise DataDirInUse(
            f"data dir {data_dir} is in use by another appliance server "
            f"(pid {_holder(path)}; lock {path}); stop it first or use another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


class Deadline:
    """One time budget shared by the steps of a shutdown (`[server] shutdown_timeout`)."""

    def __init__(self, clock: IReactorTime, seconds: float):
        self.clock = clock
        self.at = clock.seconds() + seconds
        self.missed: list[str] = []  # the steps given up on

    async def wait(self, d: Deferred[Any], what: str) -> bool:
        """Wait for `d` until the deadline; on time out cancel it, note `what`, return False."""
        d.addTimeout(max(0.0, self.at - self.clock.seconds()), self.clock)
        try:
            await d
        except (TimeoutError, CancelledError):
            self.missed.append(what)
            log.warn("shutdown: gave up waiting for {what} (shutdown_timeout)", what=what)
            return False
        return True


def lead_process_group() -> None:
    """Make this process the leader of a new process group (its id is our pid).

    A supervised child that starts helper processes calls it first thing: the
    supervisor then signals the whole group (`Supervisor(group=True)`), so a
    SIGKILL at the end of the grace period ends the helpers at the same moment.
    """
    with contextlib.suppress(PermissionError):  # already a session or group leader
        os.setpgid(0, 0)


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent exits (best effort)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent is already gone
        os.kill(os.getpid(), sig)


def call_on_signals(callback: Callable[[int], None], signals: frozenset[int]) -> None:
    """Call `callback(signal number)` from a thread of its own when one of `signals` arrives.

    For a process whose children must not inherit blocked signals (stop_on_signals
    blocks them; a job worker's mapper processes are stopped with SIGTERM): the
    signals stay deliverable, their Python handlers do nothing, and the interpreter's
    C-level handler writes each one's number to a wakeup socket that the thread reads.
    So no Python code runs inside the handler, where it could take a lock that the
    interrupted main thread (or a second signal's handler) holds. Call it from the
    main thread.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for number in signals:
        signal.signal(number, _noted_elsewhere)

    def read(wakeup: socket.socket) -> None:  # holds `wakeup` open while it runs
        while data := reader.recv(64):
            for number in data:
                if number in signals:
                    callback(number)

    threading.Thread(target=read, args=(writer,), name="signals", daemon=True).start()


def _noted_elsewhere(number: int, frame: object) -> None:
    """A Python-level handler that does nothing: call_on_signals' thread acts."""


def stop_on_signals(stop: threading.Event,
                    signals: frozenset[int] = frozenset({signal.SIGTERM, signal.SIGINT})) -> None:
    """Set `stop` when one of `signals` arrives, from a thread of its own.

    Not from a Python signal handler: the handler runs in the main thread between two
    bytecodes, possibly inside `stop.set()` or `stop.wait()` with the event's lock held,
    and a second signal (SIGTERM from the server and from PR_SET_PDEATHSIG, say) then
    deadlocks on that lock. The signals are blocked in this thread (and so in the
    threads it starts later) and taken by `sigwait` in the waiting thread. Call it
    before starting any other thread.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)

    def wait() -> None:
        signal.sigwait(signals)
        stop.set()

    threading.Thread(target=wait, name="stop-on-signal", daemon=True).start()
