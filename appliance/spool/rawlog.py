"""Reading the raw logs of the 2013 Mozilla telemetry-server (for `appliance import`).

The format, as written by the node.js receiver (mozilla/telemetry-server
`http/server.js`, `server/server.js`) and read back by `telemetry/util/files.py`
`unpack()`, and as found in the corpus file `telemetry1.log`: a file is a
plain concatenation of records, all of one version, each (little-endian)

    v1: 1e | uint16 path len | uint32 data len | uint64 ms |           path | data
    v2: 1e | uint8 ip len | uint16 path len | uint32 data len | uint64 ms | ip | path | data

so the fixed preamble is 15 bytes (v1) or 16 bytes (v2). The time is the
receive time in ms since the epoch (node wrote it as two uint32 halves, which
is the same as one uint64). The path is the URL path with the server's
`/submit/telemetry/` prefix already stripped (e.g. `<docId>/idle-daily/Firefox/
23.0.1/release/20130814063812`); the IP is `X-Forwarded-For` or the peer
address; the data is the request body as received (usually gzip). The version
is not recorded inside the file (only in its name, `telemetry.log.v1.<host>...`),
and there is no checksum. `telemetry1.log` holds one v1 record (85-byte path,
18,255-byte gzip body, 1378822911255 ms) followed by one stray byte (0x0a).

Reading: the version is detected per file by parsing the start of the file
both ways and keeping the version that finds more records (with fewer skipped
bytes); a v1 file read as v2 puts the time one byte off, which the plausibility
check rejects. A record is accepted only if its header is plausible (time in
2000-2100, data length 1..1 GiB, path valid UTF-8 without control characters,
IP printable ASCII), it fits in the file, and, when it is not followed by the
end of the file or another plausible header, it must prove intact: no
plausible whole record may start inside it (else its length field is damaged
and it would swallow the records after it) and its body must be a submission,
gzip that passes its CRC or else valid JSON (else bytes were inserted into or
deleted from it). The format has no checksum of its own, so damage inside a
record that keeps its length and alignment cannot be detected. Anything else is skipped by
searching for the next 0x1e whose header is plausible, and every skipped run of
bytes is reported. A file with no whole record in its first DETECT_WINDOW
bytes, that does not start with a cut-off one, is not a raw log (RawLogError).
A gzip-compressed log (the file starts with 1f 8b) is decompressed into a
temporary file first, so memory stays bounded.
"""

from __future__ import annotations

import gzip
import json
import mmap
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, NamedTuple

from appliance.spool.reader import DamagedRegion

SEPARATOR = 0x1E
GZIP_MAGIC = b"\x1f\x8b"
MIN_MS = 946_684_800_000      # 2000-01-01T00:00:00Z
MAX_MS = 4_102_444_800_000    # 2100-01-01T00:00:00Z
MAX_DATA = 1 << 30            # the spool frame's body limit
DETECT_WINDOW = 16 << 20      # version detection looks at records starting here
DETECT_RECORDS = 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

RawBuffer = bytes | mmap.mmap  # a raw log, mapped (or empty)


class RawLogError(ValueError):
    """The file is not a raw telemetry log (or cannot be read as one)."""


class RawRecord(NamedTuple):
    """One submission from a raw log."""

    received_ms: int
    path: str
    client_ip: str | None
    body: bytes


@dataclass(frozen=True)
class _Layout:
    name: str
    preamble: struct.Struct
    has_ip: bool


LAYOUTS = {
    "v1": _Layout("v1", struct.Struct("<BHIQ"), False),   # sep, path, data, ms
    "v2": _Layout("v2", struct.Struct("<BBHIQ"), True),   # sep, ip, path, data, ms
}


@dataclass
class RawLogReport:
    """What reading one raw log found."""

    version: str | None = None
    compressed: bool = False
    gzip_error: str | None = None   # the gzip stream was damaged; the rest is lost
    records: int = 0
    record_bytes: int = 0           # bytes of the (decompressed) log held by good records
    skipped: list[DamagedRegion] = field(default_factory=list)
    truncated_tail: bool = False    # the last skipped region starts with a cut-off record
    ignored_tail: int = 0           # white space after the last record, not counted as damage

    @property
    def skipped_bytes(self) -> int:
        return sum(r.length for r in self.skipped)

    @property
    def damaged(self) -> bool:
        return bool(self.skipped) or self.gzip_error is not None


def _preamble(buf: RawBuffer, pos: int, layout: _Layout) -> tuple[int, int, int, int] | None:
    """(ip len, path len, data len, ms) of a plausible preamble at `pos`, else None."""
    head = layout.preamble
    if pos >= len(buf) or buf[pos] != SEPARATOR or len(buf) - pos < head.size:
        return None
    if layout.has_ip:
        _sep, ip_len, path_len, data_len, ms = head.unpack_from(buf, pos)
    else:
        _sep, path_len, data_len, ms = head.unpack_from(buf, pos)
        ip_len = 0
    if not (MIN_MS <= ms < MAX_MS and 1 <= data_len <= MAX_DATA):
        return None
    return ip_len, path_len, data_len, ms


def _check(buf: RawBuffer, pos: int, layout: _Layout) -> tuple[int, str, str, int, int] | int:
    """(ms, ip, path, data offset, end) of a plausible whole record at `pos`;
    else 0 (implausible) or -1 (plausible so far, but cut off by the end of `buf`)."""
    fields = _preamble(buf, pos, layout)
    if fields is None:
        cut = pos < len(buf) and buf[pos] == SEPARATOR and len(buf) - pos < layout.preamble.size
        return -1 if cut else 0
    ip_len, path_len, data_len, ms = fields
    ip_at = pos + layout.preamble.size
    path_at = ip_at + ip_len
    data_at = path_at + path_len
    end = data_at + data_len
    if end > len(buf):
        return -1
    ip = _text(buf[ip_at:path_at], ascii_only=True) if ip_len else ""
    path = _text(buf[path_at:data_at], ascii_only=False)
    if ip is None or path is None:
        return 0
    return ms, ip, path, data_at, end


def _parse_at(buf: RawBuffer, pos: int, layout: _Layout) -> tuple[RawRecord | None, int]:
    """The record at `pos`: (record, end); (None, 0) if implausible; (None, -1) if cut off."""
    found = _check(buf, pos, layout)
    if isinstance(found, int):
        return None, found
    ms, ip, path, data_at, end = found
    body = bytes(buf[data_at:end])
    if end < len(buf) and _preamble(buf, end, layout) is None:
        # Not followed by a record: either junk follows, or bytes were inserted
        # into or deleted from this record. Skip it unless it proves intact,
        # rather than return a garbled body.
        if _swallows(buf, pos, end, layout) or not _body_intact(body):
            return None, 0
    return RawRecord(ms, path, ip or None, body), end


def _swallows(buf: RawBuffer, pos: int, end: int, layout: _Layout) -> bool:
    """True if a plausible whole record starts inside buf[pos+1:end]."""
    at = buf.find(b"\x1e", pos + 1, end)
    while at >= 0:
        if not isinstance(_check(buf, at, layout), int):
            return True
        at = buf.find(b"\x1e", at + 1, end)
    return False


def _body_intact(body: bytes) -> bool:
    """True for a whole submission: gzip that passes its CRC, or else valid JSON."""
    if not body.startswith(GZIP_MAGIC):
        try:
            json.loads(body)
        except ValueError:   # includes UnicodeDecodeError
            return False
        return True
    d = zlib.decompressobj(31)
    data = body
    try:
        while data and not d.eof:
            d.decompress(data, 1 << 20)   # bounded output; the rest waits in unconsumed_tail
            data = d.unconsumed_tail
    except zlib.error:
        return False
    return d.eof


def _text(raw: bytes, *, ascii_only: bool) -> str | None:
    """Decode a path or IP; None if it is not plausible text."""
    try:
        text = raw.decode("ascii" if ascii_only else "utf-8")
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


def _scan(buf: RawBuffer, layout: _Layout, report: RawLogReport, stop: int | None = None,
          limit: int | None = None) -> Iterator[RawRecord]:
    """Yield good records starting before `stop`, recording skipped regions in `report`."""
    size = len(buf)
    stop = size if stop is None else min(stop, size)
    pos = 0
    bad_start = None
    cut_off_at = None
    while pos < stop and (limit is None or report.records < limit):
        record, end = _parse_at(buf, pos, layout)
        if record is None:
            if bad_start is None:
                bad_start, cut_off_at = pos, None
            if end == -1 and cut_off_at is None:
                cut_off_at = pos
            nxt = buf.find(b"\x1e", pos + 1, stop)
            pos = stop if nxt < 0 else nxt
            continue
        if bad_start is not None:
            report.skipped.append(DamagedRegion(bad_start, pos - bad_start))
            bad_start = None
        report.records += 1
        report.record_bytes += end - pos
        yield record
        pos = end
    if bad_start is not None:
        tail = bytes(buf[bad_start:pos])
        if pos == size and not tail.strip(b" \t\r\n"):
            # Line endings after the last record (a log that went through a text
            # tool, like the corpus file) are not damage: nothing was lost.
            report.ignored_tail = len(tail)
            return
        report.skipped.append(DamagedRegion(bad_start, pos - bad_start))
        report.truncated_tail = pos == size and cut_off_at is not None


def detect_version(buf: RawBuffer) -> str | None:
    """"v1" or "v2" for a raw log (None if it is empty); RawLogError if it is not one."""
    if len(buf) == 0:
        return None
    scores: list[tuple[int, int, int, str]] = []
    for name, layout in LAYOUTS.items():
        trial = RawLogReport()
        for _ in _scan(buf, layout, trial, stop=DETECT_WINDOW, limit=DETECT_RECORDS):
            pass
        scores.append((trial.records, -trial.skipped_bytes, -len(scores), name))
    records, _, _, name = max(scores)
    if records == 0:
        # A log whose only record was cut short (a crash mid-write) is still a log.
        for name, layout in LAYOUTS.items():
            if _check(buf, 0, layout) == -1 and _preamble(buf, 0, layout) is not None:
                return name
        head = bytes(buf[:8]).hex(" ")
        raise RawLogError(
            f"not a raw telemetry log: no v1 or v2 record found (file starts with {head})")
    return name


def iter_records(buf: RawBuffer, report: RawLogReport | None = None,
                 version: str | None = None) -> Iterator[RawRecord]:
    """Yield every good record of a raw log held in `buf` (bytes or mmap)."""
    report = report if report is not None else RawLogReport()
    version = version or detect_version(buf)
    report.version = version
    if version is None:
        return
    yield from _scan(buf, LAYOUTS[version], report)


@dataclass
class RawLogData:
    """A raw log's bytes (decompressed if it was gzip), ready to scan."""

    buf: RawBuffer
    compressed: bool = False
    gzip_error: str | None = None


@contextmanager
def open_raw_log(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[RawLogData]:
    """Map a raw log, decompressing it to a temporary file first if it is gzip.

    With `limit`, at most that many decompressed bytes are produced (enough to
    detect the version). OSError propagates; a gzip stream damaged before any
    data raises RawLogError, one damaged later keeps what came out before it.
    """
    with open(path, "rb") as f:
        if f.read(2) != GZIP_MAGIC:
            with _mapped(f) as buf:
                yield RawLogData(buf)
            return
        f.seek(0)
        with tempfile.TemporaryFile(prefix="appliance-import-") as tmp:
            error = _gunzip(f, tmp, limit)
            if error is not None and tmp.tell() == 0:
                raise RawLogError(f"gzip data is damaged: {error}")
            with _mapped(tmp) as buf:
                yield RawLogData(buf, compressed=True, gzip_error=error)


@contextmanager
def _mapped(f: IO[bytes]) -> Iterator[RawBuffer]:
    size = os.fstat(f.fileno()).st_size
    if size == 0:
        yield b""
        return
    with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as buf:
        yield buf


def _gunzip(src: IO[bytes], dst: IO[bytes], limit: int | None) -> str | None:
    """Copy the decompressed stream to `dst`; the error message if it is damaged."""
    try:
        with gzip.GzipFile(fileobj=src, mode="rb") as gz:
            left = limit
            # read1: a damaged stream raises only after the good data is written.
            while left is None or left > 0:
                chunk = gz.read1(1 << 16 if left is None else min(1 << 16, left))
                if not chunk:
                    break
                dst.write(chunk)
                left = None if left is None else left - len(chunk)
    except (OSError, EOFError, zlib.error) as e:
        return str(e) or type(e).__name__
    finally:
        dst.flush()
    return None


def read_raw_log(path: str | os.PathLike[str],
                 report: RawLogReport | None = None) -> Iterator[RawRecord]:
    """Yield the good records of the raw log file at `path`."""
    report = report if report is not None else RawLogReport()
    with open_raw_log(path) as data:
        report.compressed, report.gzip_error = data.compressed, data.gzip_error
        yield from iter_records(data.buf, report)
