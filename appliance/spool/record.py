"""A spooled submission: the body exactly as received, plus its metadata."""

from __future__ import annotations

import itertools
import os
import struct
from dataclasses import dataclass, field

RECORD_ID_BYTES = 16


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One submission as the spool keeps it.

    `record_id` is 16 bytes unique per node (8 random bytes chosen when the
    writing process starts, then a 64-bit sequence number); a record that is
    written twice (re-appended after an fsync failure) keeps its id, so readers
    can drop the copy.
    """

    record_id: bytes
    received_ns: int
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    client_ip: str | None = None

    @property
    def id_hex(self) -> str:
        return self.record_id.hex()

    def __reduce__(self) -> tuple[type[SpoolRecord], tuple[object, ...]]:
        # Pickled as its fields (to converter worker processes, 64 to a batch): a
        # dataclass's default state costs ~4 us a record to pickle and unpickle, this ~1.
        return SpoolRecord, (self.record_id, self.received_ns, self.path, self.body,
                             self.headers, self.client_ip)


class RecordIds:
    """Issues record ids: a random per-instance prefix and a counter."""

    def __init__(self, prefix: bytes | None = None):
        self._prefix = prefix if prefix is not None else os.urandom(8)
        self._counter = itertools.count()

    def next(self) -> bytes:
        return self._prefix + struct.pack(">Q", next(self._counter))
