"""Process lifecycle helpers: exclusive locks on a data dir, dying with the parent."""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class AlreadyLocked(Exception):
    """Another process holds the lock."""


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


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent exits (best effort)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent is already gone
        os.kill(os.getpid(), sig)
