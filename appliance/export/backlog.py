"""The export backlog: finished store files not yet in S3, and what follows an upload."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from appliance.storage.filenames import is_data_file_name
from appliance.storage.readlock import store_read_lock

# Only for the annotations: the uploader loads botocore, which `export --status` (it lists
# local files) does without.
if TYPE_CHECKING:
    from appliance.export.uploader import Uploaded, Uploader


@dataclass(frozen=True)
class StoreFile:
    """A finished store file and its key (its path relative to the store)."""

    path: Path
    key: str
    size: int
    mtime: float


def _walk(directory: Path, prefix: str) -> Iterator[StoreFile]:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith("."):  # .tmp/, .checkpoint.json, locks
            continue
        key = f"{prefix}{entry.name}"
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path), key + "/")
        elif is_data_file_name(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            yield StoreFile(Path(entry.path), key, st.st_size, st.st_mtime)


def finished_files(store_root: Path) -> list[StoreFile]:
    """Every finished file in the store, oldest first."""
    return sorted(_walk(store_root, ""), key=lambda f: (f.mtime, f.key))


def finish_local(file: StoreFile, retained_root: Path | None) -> None:
    """After a verified upload: delete the local file, or move it to the retained tree.

    Done under the store's read lock, so a job's snapshot sees the file here or in S3.
    """
    store_root = file.path.parents[file.key.count("/")]
    try:
        with store_read_lock(store_root, exclusive=True):
            if retained_root is None:
                file.path.unlink()
                return
            target = retained_root / file.key
            target.parent.mkdir(parents=True, exist_ok=True)
            file.path.replace(target)
        os.utime(target)  # retention counts from the export
    except FileNotFoundError:
        pass  # another exporter (e.g. `appliance export --once`) got there first


def purge_retained(retained_root: Path, retain_days: float, now: float) -> int:
    """Delete retained files older than `retain_days` at `now` (the caller's clock, in
    seconds since the epoch); returns how many."""
    cutoff = now - retain_days * 86400
    removed = 0
    for file in _walk(retained_root, ""):
        if file.mtime < cutoff:
            try:
                file.path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
    return removed


class UploadLedger(Protocol):
    """Where verified uploads are journaled (`appliance.ledger.exported.ExportedLedger`)."""

    def exported(self, key: str, size: int) -> None: ...
    def finished(self, key: str) -> None: ...


def ship(uploader: Uploader, file: StoreFile, retained_root: Path | None,
         ledger: UploadLedger | None = None) -> Uploaded:
    """Upload and verify one file, then let go of the local copy; returns the Uploaded.

    With a ledger (`appliance.ledger.exported`), the export is journaled
    between the verification and the delete, so it is counted exactly once.
    """
    result = uploader.export(file.path, file.key)
    if ledger is not None:
        ledger.exported(file.key, file.size)
    finish_local(file, retained_root)
    if ledger is not None:
        ledger.finished(file.key)
    return result
