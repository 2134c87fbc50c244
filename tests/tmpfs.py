"""A server whose data dir is a small tmpfs of its own: disk-full tests on a real file system.

The server runs under `unshare -m` with a tmpfs mounted on its data dir, so
the mount is private to the server (and gone when it exits); the test reaches
the files through /proc/PID/root, which resolves paths in the server's mount
namespace. It needs root (or user namespaces): `tmpfs_server` skips where
mounting is not possible; the same behaviour is tested with injected
ENOSPC in the unit tests (spool writer, log file, job pool).

Usable for any writer: the store, the log, jobs, the spool.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.serverproc import ServerProcess

# $0 is the mount point; the rest is the command, which replaces the shell.
MOUNT_AND_EXEC = 'mount -t tmpfs -o size="$TMPFS_SIZE" tmpfs "$0" && exec "$@"'


def can_mount_tmpfs(scratch: Path) -> str | None:
    """None if a private tmpfs can be mounted here, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    scratch.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$0"',
                           str(scratch)], capture_output=True, text=True, timeout=30)
    return None if done.returncode == 0 else f"cannot mount a tmpfs: {done.stderr.strip()}"


@contextlib.contextmanager
def tmpfs_server(data_dir: Path, size: int, env: dict | None = None,
                 args: list[str] | None = None) -> Iterator[ServerProcess]:
    """`appliance serve` on a tmpfs of `size` bytes mounted on `data_dir`, stopped (and
    checked to exit 0) at the end.

    Its `data_dir` names the tmpfs as the server sees it (/proc/PID/root/...),
    so `admin()`, reading files and `fill` below work unchanged.
    """
    why = can_mount_tmpfs(data_dir.parent / "mount-check")
    if why:
        pytest.skip(f"disk-full tests need a private tmpfs: {why}")
    data_dir.mkdir(parents=True)
    server = ServerProcess(
        data_dir, env={"TMPFS_SIZE": str(size), **(env or {})}, args=args or [],
        program=["unshare", "-m", "sh", "-c", MOUNT_AND_EXEC, str(data_dir),
                 sys.executable, "-m", "appliance"])
    server.start()
    server.data_dir = Path(f"/proc/{server.proc.pid}/root") / data_dir.relative_to("/")
    try:
        yield server
    finally:
        assert server.stop() == 0


def fill(directory: Path, name: str = "filler") -> Path:
    """Fill the file system of `directory` to the last byte with one file; returns it."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 4096, 1):
            block = bytes(chunk)
            with contextlib.suppress(OSError):
                while os.write(fd, block) == chunk:
                    pass
        try:
            os.write(fd, b"x")
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        else:
            raise AssertionError(f"{directory} is not full after filling it")
    finally:
        os.close(fd)
    return path
