"""Sorted runs on disk: spilling, reading back and merging with bounded fan-in."""

from __future__ import annotations

import heapq
import os
import pickle
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

FAN_IN = 64                 # runs merged at once (bounds open files)
_OVERHEAD = 64              # estimated bytes per buffered value besides its payload
_LEN = struct.Struct(">I")
Group = tuple[bytes, Any, list[Any]]  # (canonical key, key, values) of map output
_Item = TypeVar("_Item")    # a run's element: a record (bytes) or a group (tuple)

def write_records(path: str, records: Iterable[bytes]) -> None:
    """Write a run of byte records (length-prefixed)."""
    with open(path, "wb", buffering=1 << 16) as f:
        for r in records:
            f.write(_LEN.pack(len(r)))
            f.write(r)


def read_records(path: str) -> Iterator[bytes]:
    """Read back a run written by write_records."""
    with open(path, "rb", buffering=1 << 16) as f:
        while head := f.read(4):
            yield f.read(_LEN.unpack(head)[0])


def write_groups(path: str, groups: Iterable[Group]) -> None:
    """Write a run of (canonical key, key, values) groups, pickled one by one."""
    with open(path, "wb", buffering=1 << 16) as f:
        pickler = pickle.Pickler(f, protocol=pickle.HIGHEST_PROTOCOL)
        for g in groups:
            pickler.dump(g)
            pickler.clear_memo()


def read_groups(path: str) -> Iterator[Group]:
    """Read back a run written by write_groups."""
    with open(path, "rb", buffering=1 << 16) as f:
        unpickler = pickle.Unpickler(f)
        while True:
            try:
                yield unpickler.load()
            except EOFError:
                return


def group_key(item: Group) -> bytes:
    """The sort key of a group: its canonical key encoding."""
    return item[0]


def premerge(paths: list[str], work: Path, tag: str, groups: bool) -> list[str]:
    """Merge sorted runs FAN_IN at a time until at most FAN_IN are left (inputs are deleted)."""
    if groups:
        return _premerge(paths, work, tag, read_groups, write_groups,
                         lambda runs: heapq.merge(*runs, key=group_key))
    return _premerge(paths, work, tag, read_records, write_records,
                     lambda runs: heapq.merge(*runs))


def _premerge(paths: list[str], work: Path, tag: str,
              read: Callable[[str], Iterator[_Item]],
              write: Callable[[str, Iterable[_Item]], None],
              merge: Callable[[Iterator[Iterator[_Item]]], Iterator[_Item]]) -> list[str]:
    n = 0
    while len(paths) > FAN_IN:
        merged = []
        for i in range(0, len(paths), FAN_IN):
            chunk = paths[i:i + FAN_IN]
            out = str(work / f"{tag}-merge{n}")
            n += 1
            write(out, merge(read(p) for p in chunk))
            for p in chunk:
                os.unlink(p)
            merged.append(out)
        paths = merged
    return paths


class RecordSorter:
    """An external sort of output records (bytes): sorted runs of at most ~limit bytes."""

    def __init__(self, work: Path, tag: str, limit: int) -> None:
        self.work, self.tag, self.limit = work, tag, limit
        self.items: list[bytes] = []
        self.size = 0
        self.runs: list[str] = []
        self.spills = 0
        self.count = 0
        self.bytes = 0

    def add_text(self, text: str) -> None:
        rec = text.encode("utf-8", "surrogatepass")
        self.items.append(rec)
        self.count += 1
        self.bytes += len(rec)
        self.size += len(rec) + _OVERHEAD
        if self.size > self.limit:
            self._flush()
            self.spills += 1

    def _flush(self) -> None:
        if self.items:
            self.items.sort()
            path = str(self.work / f"{self.tag}-out{len(self.runs)}")
            write_records(path, self.items)
            self.runs.append(path)
        self.items, self.size = [], 0

    def finish(self) -> list[str]:
        self._flush()
        return self.runs


class OutputCounts(Protocol):
    """What `write_output` counts into (a `JobSummary`)."""

    output_records: int
    output_bytes: int
    header_lines: int


def write_output(output: Path, runs: list[Iterable[bytes]], summary: OutputCounts,
                 check: Callable[[], None] | None = None, header: str = "") -> None:
    """Merge sorted record runs into `output` atomically (temp file, fsync, rename),
    after `header` (what `setup_reduce` wrote; not a record, so not sorted).

    Counts records, bytes and the header's lines into `summary`; `check` is called now and then
    (it may raise to cancel). On any error the temp file is removed and
    `output` is left as it was.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 16) as f:
            head = header.encode("utf-8", "surrogatepass")
            f.write(head)
            summary.output_bytes += len(head)
            summary.header_lines = len(header.splitlines())
            for n, rec in enumerate(heapq.merge(*runs)):
                f.write(rec)
                summary.output_records += 1
                summary.output_bytes += len(rec)
                if check is not None and n % 10000 == 0:
                    check()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
