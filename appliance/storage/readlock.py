"""The store's read lock: what a job's snapshot holds while it links store files.

A snapshot (`appliance.mr.snapshot`) holds it shared while it lists and
hard-links store files; whoever removes a committed store file (the exporter
after a verified upload) holds it exclusively. So a file is either linked by
the snapshot or already uploaded, never lost between the two.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

READ_LOCK = ".snapshot.lock"


@contextmanager
def store_read_lock(store_root: Path, exclusive: bool = False) -> Iterator[None]:
    """Hold the store's read lock (shared, or `exclusive`) for the `with` block."""
    store_root.mkdir(parents=True, exist_ok=True)
    fd = os.open(store_root / READ_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)
