"""Which exported objects a job reads, decided by identity, never by guesswork.

A job on one node reads its local snapshot (store files and spool) and the
objects under the export prefix, which hold every node's exported files. An
object is left out only when this node provably holds the same records
locally:

- its store key is a file of the snapshot, and S3 holds exactly that file's
  bytes: the same size and the checksum the exporter uploads with (the ETag:
  the MD5, or for a multipart upload the MD5 of the parts' MD5s,
  `appliance.export.uploader.expected_etag`); or
- its name carries *this node's id* and a generation at or after the
  snapshot's frontier: its records are still read from this node's spool.

Node ids are unique per data dir (`appliance.node`), so another node's object
never matches either rule, whatever its label. An object with a local key
whose size or checksum differs is a conflict: the job stops with an error
naming every such object and local file, rather than guess which one to read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from appliance.mr.remote import RemoteObject, file_digests
from appliance.mr.snapshot import LocalSnapshot


class InputConflict(Exception):
    """Exported objects that share a key with local files but not their bytes."""


@dataclass
class LocalMatch:
    """Resolves listed objects against a snapshot (None: nothing is local); counts what it
    leaves out (`same`: identical to a local file; `spooled`: read from the spool)."""

    snapshot: LocalSnapshot | None
    part_size: int
    where: str = ""  # ``s3://bucket/prefix/``, for messages
    store_root: Path | None = None  # the store the snapshot links, for messages
    same: int = 0
    spooled: int = 0

    def __call__(self, listed: list[RemoteObject]) -> list[RemoteObject]:
        """The objects the job must read; `InputConflict` if any is ambiguous."""
        wanted, conflicts = [], []
        snap = self.snapshot
        for obj in listed:
            local = snap.local_path(obj.key) if snap is not None else None
            if local is not None:
                problem = self._differs(local, obj)
                if problem:
                    shown = self.store_root / obj.key if self.store_root else local
                    conflicts.append(f"{self.where}{obj.key}: {problem} (local file {shown})")
                else:
                    self.same += 1
            elif snap is not None and snap.after_frontier(obj.key.rsplit("/", 1)[-1]):
                self.spooled += 1
            else:
                wanted.append(obj)
        if conflicts:
            raise InputConflict(
                f"{len(conflicts)} exported object(s) have the key of a local file but not its "
                f"bytes, so the job cannot tell which to read (see docs/mapreduce.md, "
                f"\"Inputs on a fleet\"):\n  " + "\n  ".join(conflicts))
        return wanted

    def _differs(self, local: Path, obj: RemoteObject) -> str | None:
        """Why the local file is not provably the object's bytes, or None if it is."""
        size = os.path.getsize(local)
        if size != obj.size:
            return f"{obj.size} bytes in S3, {size} locally"
        md5, multi = file_digests(local, self.part_size)
        if "-" not in obj.etag:
            return None if md5 == obj.etag else f"ETag {obj.etag} in S3, MD5 {md5} locally"
        if multi == obj.etag:
            return None
        return (f"multipart ETag {obj.etag} in S3, {multi} locally with [export] part_size "
                f"{self.part_size}")
