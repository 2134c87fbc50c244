"""What a mapper reads: the records of a store file, of an S3 object (fetched by the worker),
or of the spool converted on the fly.

All yield ``(where, dims, doc_id, value, nbytes, received_ns)``: `where`
locates the record for error messages (a line number in a store file, a
segment and offset in the spool), `value` is the record's JSON text, `nbytes`
the size of its line and `received_ns` when its submission was received (0
when unknown: a store file written before receive times were kept).
"""

from __future__ import annotations

import io
import mmap
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import zstandard

from appliance.config import Config
from appliance.mr.inputs import InputFile, RemoteInput, SpoolInput
from appliance.mr.remote import RemoteObject, download
from appliance.spool.reader import iter_frames
from appliance.storage.arrivals import read_arrivals
from appliance.storage.filters import Filter
from appliance.storage.keys import SchemaSource, parse_key

if TYPE_CHECKING:  # only for the annotation: the converter loads for spool inputs only
    from appliance.convert.records import RecordConverter

Record = tuple[object, tuple[str, ...], str, str, int, int]


def store_records(f: InputFile) -> Iterator[Record]:
    """The lines of a store file (zstd frames of ``docId<TAB>json<LF>``), with the receive
    times the file ends with (`appliance.storage.arrivals`)."""


    dims = f.dims
    arrivals = read_arrivals(f.path) or ()
    known = len(arrivals)
    with open(f.path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        lines = io.BufferedReader(reader, buffer_size=1 << 20)
        for n, line in enumerate(lines, 1):
            text = line.decode("utf-8", "surrogateescape")
            doc, _, value = text.partition("\t")
            if value.endswith("\n"):
                value = value[:-1]
            yield n, dims, doc, value, len(line), arrivals[n - 1] if n <= known else 0


def remote_records(f: RemoteInput, config: Config) -> Iterator[Record]:
    """The lines of an exported object, downloaded and verified (size and ETag) into a temp
    file on this worker first; S3 settings from `config` ([export])."""

    bucket, _, object_key = f.path.removeprefix("s3://").partition("/")
    with tempfile.TemporaryDirectory(prefix="appliance-s3-") as tmp:
        target = Path(tmp) / "object.zst"
        download(_s3_client(config), bucket, object_key, RemoteObject(f.key, f.size, f.etag),
                 target, config.export.part_size)
        yield from store_records(InputFile(str(target), f.tree, f.dims, f.size))


_clients: dict[tuple[str, str, str], Any] = {}  # boto3 clients (untyped)


def _s3_client(config: Config) -> Any:
    """One boto3 client per process and endpoint (clients are thread-safe and costly)."""
    from appliance.export.s3client import make_client  # boto3 (~0.2 s): only for S3 inputs

    name = (config.export.endpoint_url, config.export.region, config.export.access_key_id)
    if name not in _clients:
        _clients[name] = make_client(config)
    return _clients[name]


def spool_records(src: SpoolInput, converter: RecordConverter, schemas: SchemaSource,
                  flt: Filter | None, counts: Counter[str]) -> Iterator[Record]:
    """The spool records of `src`, converted as the converter would, that `flt` selects.

    Records that would go to ``invalid/`` are skipped and counted
    (``counts["spool_invalid"]``), as are re-appended copies of a record
    (``spool_duplicates``); ``spool_records`` counts what was read.
    """

    seen: set[bytes] = set()
    for piece in src.pieces:
        with open(piece.path, "rb") as f, \
                mmap.mmap(f.fileno(), piece.end, access=mmap.ACCESS_READ) as buf:
            for offset, _end, record in iter_frames(buf, None, piece.start):
                counts["spool_records"] += 1
                if record.record_id in seen:
                    counts["spool_duplicates"] += 1
                    continue
                seen.add(record.record_id)
                result = converter.convert(record)
                if result.invalid_reason:
                    counts["spool_invalid"] += 1
                    continue
                key = parse_key(f"{result.partition}/x.zst", schemas)
                if flt is not None and not flt.allows_key(key):
                    continue
                line = result.line
                doc, _, value = line[:-1].decode("utf-8", "surrogateescape").partition("\t")
                yield (f"spool {os.path.basename(piece.path)} offset {offset}", key.values,
                       doc, value, len(line), record.received_ns)
