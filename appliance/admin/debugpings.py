"""The latest debug pings on this node, for the debug view (GET /v1/debug/pings).

A ping that carries an ``X-Debug-ID`` is converted into a ``debug`` partition
(docs/clients.md). `DebugPings.scan` reads the files of today's and
yesterday's debug partitions that it has not read yet, and keeps only the
newest pings: at most `max_pings` and `max_bytes` of documents in memory. A
single document larger than `MAX_DOCUMENT_BYTES` is kept as its metadata
only. The debug id is client data: it is only ever compared, never used as a
key, so no client can grow this beyond its bounds. Reading the store rather
than watching the converter works however many converter processes there
are, and shows debug pings again after a restart.
"""

from __future__ import annotations

import datetime
import io
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
import zstandard

from appliance.storage.filters import Filter
from appliance.storage.keys import walk_partitions
from appliance.storage.schema import OneOf, SchemaRegistry

MAX_PINGS = 200
MAX_BYTES = 8 << 20
MAX_DOCUMENT_BYTES = 256 << 10
_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class DebugPing:
    """One debug ping: when it arrived, its debug id, and its document (with metadata)."""

    submission_timestamp: str
    debug_id: str
    document: dict
    size: int

    def as_dict(self) -> dict:
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
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    header = meta.get("header") if isinstance(meta, dict) else None
    debug_id = header.get("x_debug_id") if isinstance(header, dict) else None
    if not isinstance(debug_id, str):
        return None
    if len(text) > MAX_DOCUMENT_BYTES:
        doc = {"metadata": meta, "omitted": f"a document of {len(text)} bytes"}
    return DebugPing(str(meta.get("submission_timestamp", "")), debug_id, doc,
                     min(len(text), MAX_DOCUMENT_BYTES))


class DebugPings:
    """The newest debug pings found in a local store, bounded by count and bytes.

    `scan` blocks (it reads files): call it off the reactor thread. `latest` may
    be called from any thread.
    """

    def __init__(self, store_root: Path, *, max_pings: int = MAX_PINGS,
                 max_bytes: int = MAX_BYTES, wall: Callable[[], float] = time.time):
        self.store_root = Path(store_root)
        self.max_pings = max_pings
        self.max_bytes = max_bytes
        self._wall = wall
        self._pings: list[DebugPing] = []  # oldest first
        self._bytes = 0
        self._read: set[Path] = set()      # files of the partitions scanned last time
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
            seen: set[Path] = set()
            added = 0
            for part in walk_partitions(self.store_root, self._filter(), SchemaRegistry()):
                for path in _data_files(part.path):
                    seen.add(path)
                    if path not in self._read:
                        added += self._add_file(path)
            self._read = seen  # older days' files drop out: the set stays bounded
            return added

    def _add_file(self, path: Path) -> int:
        found = []
        try:
            with open(path, "rb") as raw:
                reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
                for line in io.BufferedReader(reader, buffer_size=1 << 16):
                    ping = parse_line(line.rstrip(b"\n"))
                    if ping is not None:
                        found.append(ping)
        except (OSError, zstandard.ZstdError):
            return 0  # exported and removed, or not complete: what was read is lost
        with self._lock:
            self._pings.extend(found)
            self._pings.sort(key=lambda p: p.submission_timestamp)
            self._bytes += sum(p.size for p in found)
            while self._pings and (len(self._pings) > self.max_pings
                                   or self._bytes > self.max_bytes):
                self._bytes -= self._pings.pop(0).size
        return len(found)

    def latest(self, debug_id: str | None = None, limit: int = 50) -> list[dict]:
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
                          if e.name.endswith(".zst") and not e.name.startswith(".")
                          and e.is_file(follow_symlinks=False))
    except OSError:
        return []


def describe(ping: dict) -> str:
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
