"""Job inputs: store files, S3 objects and spool pieces, and their split over mappers."""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from appliance.storage.filenames import is_data_file_name
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource
from appliance.storage.walk import walk_partitions


class InputFile(NamedTuple):
    """One store file to map: its path, tree, dimension values (schema order) and size;
    `source` names where it comes from in the job summary (``store``, ``s3:<node>``)."""

    path: str
    tree: str
    dims: tuple[str, ...]
    size: int
    source: str = "store"


class RemoteInput(NamedTuple):
    """An exported object that the worker mapping it downloads itself (the Dask runner):
    `path` is ``s3://bucket/object key``; `key` its store key; `etag` from the listing."""

    path: str
    tree: str
    dims: tuple[str, ...]
    size: int
    key: str
    etag: str
    source: str = "s3"


class SpoolPiece(NamedTuple):
    """Bytes [start, end) of one spool segment, through a hard link in a job's snapshot."""

    path: str
    start: int
    end: int


class SpoolInput(NamedTuple):
    """Every spool piece of a snapshot (`appliance.mr.snapshot`), read by one mapper, so
    re-appended copies of a record, which land in a later segment, are dropped like the
    converter drops them. `node` is the node part of the spooling node's file names."""

    path: str
    pieces: tuple[SpoolPiece, ...]
    size: int
    node: str = ""
    source: str = "spool"


Input = InputFile | RemoteInput | SpoolInput  # what a mapper reads


def select_inputs(store_root: str | Path, flt: Filter | None = None,
                  schemas: SchemaSource = None) -> list[InputFile]:
    """The ``*.zst`` files of the partitions `flt` selects (None: every partition).

    Non-matching partition directories are pruned by `walk_partitions` and
    never listed; no file is opened. Sorted by path.
    """

    files = []
    for part in walk_partitions(Path(store_root), flt, schemas):
        try:
            entries = list(os.scandir(part.path))
        except FileNotFoundError:
            continue
        for e in entries:
            if is_data_file_name(e.name) and e.is_file():
                files.append(InputFile(e.path, part.tree, tuple(part.values), e.stat().st_size))
    return sorted(files)


def check_config(inputs: Iterable[Input], config: object) -> None:
    """ValueError when `inputs` hold spool records or S3 objects and there is no `config`
    to read them with (the converter's settings; `[export]`'s)."""
    if config is None and any(not isinstance(f, InputFile) for f in inputs):
        raise ValueError("spool and S3 inputs need config= (the configuration to read them "
                         "with)")


def balance(files: list[Input], n: int) -> list[list[Input]]:
    """Split files over n lists with similar byte totals (largest first, to the lightest)."""
    heap = [(0, i) for i in range(n)]
    out: list[list[Input]] = [[] for _ in range(n)]
    for f in sorted(files, key=lambda f: (-f.size, f.path)):
        load, i = heapq.heappop(heap)
        out[i].append(f)
        heapq.heappush(heap, (load + f.size, i))
    return [sorted(lst) for lst in out if lst]
