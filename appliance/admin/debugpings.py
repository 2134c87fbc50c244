"""The latest debug pings on this node, for the debug view (GET /v1/debug/pings).

A ping that carries an ``X-Debug-ID`` is converted into a ``debug`` partition
(docs/clients.md). `DebugPings.scan` finds the debug pings it has not seen
yet in two places: the spool (so a ping shows seconds after it arrived,
converted on the fly the way the converter will) and the files of today's
and yesterday's debug partitions of the store (so debug pings show again
after a restart, when the spool has been converted and emptied). It keeps only
the newest: at most `max_pings` and `max_bytes` of documents in memory; a
single document larger than `MAX_DOCUMENT_BYTES` is kept as its metadata only.
The debug id is client data: it is only ever compared, never used as a key,
so no client can grow this beyond its bounds.
"""

from __future__ import annotations

import datetime
import io
import mmap
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import zstandard

from appliance.convert.metadata import TRAFFIC_DEBUG, headers_of, metadata, traffic
from appliance.convert.records import Invalid, decompress, parse_json
from appliance.spool.reader import iter_frames
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir
from appliance.storage.filenames import is_data_file_name
from appliance.storage.filters import Filter
from appliance.storage.schema import OneOf, SchemaRegistry
from appliance.storage.walk import walk_partitions
from appliance.submission.routes import FORM_GENERIC, RouteError, parse_submit_path

MAX_PINGS = 200
MAX_BYTES = 8 << 20
MAX_DOCUMENT_BYTES = 256 << 10
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class DebugPing:
    """One debug ping: when it arrived, its debug id, and its document (with metadata)."""

    submission_timestamp: str
    debug_id: str
    document: dict[str, Any]
    size: int

    @property
    def identity(self) -> tuple[str, str]:
        return self.submission_timestamp, str(self.document.get("metadata", {})
                                              .get("document_id"))

    def as_dict(self) -> dict[str, Any]:
        meta = self.document.get("metadata", {})
        return {"submission_timestamp": self.submission_timestamp, "debug_id": self.debug_id,
                "namespace": meta.get("document_namespace"),
                "doc_type": meta.get("document_type"), "doc_id": meta.get("document_id"),
                "document": self.document}


def parse_line(line: bytes) -> DebugPing | None:
    """The debug ping of a store line, or None if the line is not a debug ping."""
    _doc_id, _, text = line.partition(b"\t")
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return _ping(doc, len(text))


def from_spool(record: SpoolRecord) -> DebugPing | None:
    """The debug ping of a spool record not converted yet, or None if it is not one."""
    header = headers_of(record)
    if traffic(header) != TRAFFIC_DEBUG:
        return None
    try:
        route = parse_submit_path(record.path.split("?", 1)[0])
    except RouteError:
        return None
    if route.form != FORM_GENERIC:
        return None
    meta = metadata(record, route.dimensions, route.doc_id, header)
    try:
        text = decompress(record.body, MAX_DOCUMENT_BYTES)
        doc = parse_json(text)
    except Invalid as e:
        return _ping({"metadata": meta, "omitted": f"{e.reason}: {e.detail}"}, 0)
    if not isinstance(doc, dict):
        return None  # stored without metadata: not found in the store either
    doc["metadata"] = meta
    return _ping(doc, len(text))


def _ping(doc: object, size: int) -> DebugPing | None:
    if not isinstance(doc, dict):
        return None
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return None
    header = meta.get("header")
    debug_id = header.get("x_debug_id") if isinstance(header, dict) else None
    if not isinstance(debug_id, str):
        return None
    if size > MAX_DOCUMENT_BYTES:
        doc = {"metadata": meta, "omitted": f"a document of {size} bytes"}
    return DebugPing(str(meta.get("submission_timestamp", "")), debug_id, doc,
                     min(size, MAX_DOCUMENT_BYTES))


class DebugPings:
    """The newest debug pings found in a local store, bounded by count and bytes.

    `scan` blocks (it reads files): call it off the reactor thread. `latest` may
    be called from any thread.
    """

    def __init__(self, store_root: Path, schemas: SchemaRegistry,
                 spool_root: Path | None = None, *,
                 max_pings: int = MAX_PINGS,
                 max_bytes: int = MAX_BYTES, wall: Callable[[], float]):
        self.store_root = Path(store_root)
        self.schemas = schemas  # the store's layout: [store] schema_file names its own
        self.spool_root = spool_root
        self.max_pings = max_pings
        self.max_bytes = max_bytes
        self._wall = wall
        self._pings: list[DebugPing] = []  # oldest first
        self._bytes = 0
        self._read: set[Path] = set()      # files of the partitions scanned last time
        self._spool_read: dict[tuple[int, int], int] = {}  # segment (dev, inode) -> offset
        self._held: set[tuple[str, str]] = set()  # (timestamp, document id) of the pings
        self._lock = threading.Lock()       # guards the pings
        self._scan_lock = threading.Lock()  # one scan at a time

    def _filter(self) -> Filter:
        today = datetime.datetime.fromtimestamp(self._wall(), datetime.UTC).date()
        days = tuple(d.strftime("%Y%m%d") for d in (today - _DAY, today))
        return Filter(trees=None, conditions={"traffic": OneOf(("debug",)),
                                              "submission_date": OneOf(days)})

    def scan(self) -> int:
        """Read the debug partitions' new files; returns how many pings were added."""
        with self._scan_lock:
            added = self._scan_spool(self.spool_root) if self.spool_root is not None else 0
            seen: set[Path] = set()
            for part in walk_partitions(self.store_root, self._filter(), self.schemas):
                for path in _data_files(part.path):
                    seen.add(path)
                    if path not in self._read:
                        added += self._add(self._read_file(path))
            self._read = seen  # older days' files drop out: the set stays bounded
            return added

    def _scan_spool(self, spool_root: Path) -> int:
        """Add the debug pings of the spool's frames not read yet (a renamed segment keeps
        its inode, so sealing does not make it new)."""
        offsets: dict[tuple[int, int], int] = {}
        added = 0
        for segment in SpoolDir(spool_root).all_segments():
            try:
                with open(segment, "rb") as f:
                    st = os.fstat(f.fileno())
                    ident = (st.st_dev, st.st_ino)
                    start = offsets[ident] = self._spool_read.get(ident, 0)
                    if st.st_size <= start:
                        continue
                    with mmap.mmap(f.fileno(), st.st_size, access=mmap.ACCESS_READ) as buf:
                        found = []
                        for _offset, end, record in iter_frames(buf, start=start):
                            offsets[ident] = end  # a frame being written is read next time
                            ping = from_spool(record)
                            if ping is not None:
                                found.append(ping)
                    added += self._add(found)
            except OSError:
                continue  # converted and deleted meanwhile: its pings are in the store
        self._spool_read = offsets  # only segments that still exist: bounded
        return added

    def _read_file(self, path: Path) -> list[DebugPing]:
        found = []
        try:
            with open(path, "rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
                for line in io.BufferedReader(reader, buffer_size=1 << 16):
                    ping = parse_line(line.rstrip(b"\n"))
                    if ping is not None:
                        found.append(ping)
        except (OSError, zstandard.ZstdError):
            pass  # exported and removed meanwhile: what was read is kept
        return found

    def _add(self, found: list[DebugPing]) -> int:
        """Hold the pings not held yet (one seen in the spool and then in the store is
        the same ping), dropping the oldest beyond the bounds; returns how many were new."""
        new = []
        for ping in found:
            if ping.identity not in self._held:
                self._held.add(ping.identity)
                new.append(ping)
        with self._lock:
            self._pings.extend(new)
            self._pings.sort(key=lambda p: p.submission_timestamp)
            self._bytes += sum(p.size for p in new)
            while self._pings and (len(self._pings) > self.max_pings
                                   or self._bytes > self.max_bytes):
                dropped = self._pings.pop(0)
                self._bytes -= dropped.size
                self._held.discard(dropped.identity)
        return len(new)

    def latest(self, debug_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest pings first, only those with `debug_id` if given."""
        with self._lock:
            pings = list(self._pings)
        chosen = [p for p in reversed(pings) if debug_id is None or p.debug_id == debug_id]
        return [p.as_dict() for p in chosen[:limit]]

    def __len__(self) -> int:
        return len(self._pings)

    @property
    def held_bytes(self) -> int:
        """The bytes of documents held (at most `max_bytes`)."""
        return self._bytes


def _data_files(directory: Path) -> list[Path]:
    try:
        with os.scandir(directory) as it:
            return sorted(Path(e.path) for e in it
                          if is_data_file_name(e.name)
                          and e.is_file(follow_symlinks=False))
    except OSError:
        return []


def describe(ping: dict[str, Any]) -> str:
    """A debug ping as text: a summary line, its metadata, then the document pretty-printed
    (as `appliance debug tail` and the dashboard's debug view show it)."""
    document = dict(ping.get("document") or {})
    meta = document.pop("metadata", {})
    lines = [f"{ping.get('submission_timestamp')}  debug id {ping.get('debug_id')}  "
             f"{ping.get('namespace')}/{ping.get('doc_type')}  {ping.get('doc_id')}"]
    for name, value in sorted((meta.get("header") or {}).items()):
        lines.append(f"  {name}: {value}")
    if meta.get("user_agent"):
        agent = meta["user_agent"]
        lines.append("  user agent: " + ", ".join(f"{k} {v}" for k, v in sorted(agent.items())))
    lines.append(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                 .decode())
    return "\n".join(lines)
