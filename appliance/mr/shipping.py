"""Local inputs on a Dask cluster: the driver reads them and sends what the workers map.

A job's local inputs (this node's store files and its spool, both hard links
in the job's snapshot) exist only on the node that runs the driver; the
cluster's workers may be other machines. So the driver ships them:

- a store file: its bytes (`pack`); the map task writes them into a private
  temp dir under the same file name and reads them there (`unpack`), with
  the local runner's reader (receive times included);
- the spool: converted here, on the node that holds it, with this node's
  converter settings and histogram specs (`convert_spool`), so a worker
  without those specs cannot take good records for invalid ones; the task
  maps the converted records as a local mapper maps the spool.

S3 objects are not shipped: the workers download them (`RemoteInput`).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import NamedTuple, TypeGuard

from appliance.config import Config
from appliance.mr.inputs import Input, InputFile, RemoteInput, SpoolInput
from appliance.mr.sources import Record, spool_records
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource


class ConvertedSpool(NamedTuple):
    """The records of a `SpoolInput` as `spool_records` yields them, and its counts
    (``spool_records``, ``spool_invalid``, ``spool_duplicates``)."""

    records: list[Record]
    counts: dict[str, int]


def is_local(f: Input) -> TypeGuard[InputFile | SpoolInput]:
    """Whether input `f` lives on the driver's node (anything but an S3 object)."""
    return not isinstance(f, RemoteInput)


def convert_spool(src: SpoolInput, config: Config, schemas: SchemaSource,
                  flt: Filter | None) -> ConvertedSpool:
    """Read and convert the spool input on this node (what `flt` selects)."""
    # The converter (specs, payload conversion) loads only for jobs that read the spool.
    from appliance.convert.factory import record_converter

    counts: Counter[str] = Counter()
    records = list(spool_records(src, record_converter(config), schemas, flt, counts))
    return ConvertedSpool(records, dict(counts))


def pack(f: InputFile) -> tuple[str, bytes]:
    """A local store file's name and bytes."""
    return os.path.basename(f.path), Path(f.path).read_bytes()


def unpack(f: InputFile, packed: tuple[str, bytes], directory: Path) -> InputFile:
    """Write a packed store file under `directory` (private); `f` with its path there."""
    name, data = packed
    directory.mkdir(parents=True)
    path = directory / name  # the same name: dedupe orders files by their generation
    path.write_bytes(data)
    return f._replace(path=str(path))
