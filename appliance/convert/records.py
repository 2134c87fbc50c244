"""One spooled submission -> one store line (or one invalid/ line).

This is the per-record half of the converter, shared by the server's
converter loop, `appliance convert` and jobs that read the spool: decompress
(bounded), parse, convert histograms, partition.

`RecordConverter.convert` is total: whatever a record holds, it returns a
line, for the store or for invalid/ with a reason (docs/conversion.md), so no
record can stop the converter. Data that cannot be stored exactly (integers
beyond 64 bits, documents nested deeper than orjson writes) goes to invalid/
rather than being changed.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from dataclasses import dataclass
from types import ModuleType

import orjson
from isal import isal_zlib

from appliance.convert.metadata import channel, headers_of, metadata, traffic
from appliance.convert.payload import ConversionError, ConvertResult, convert_payload
from appliance.convert.specs import SpecStore
from appliance.convert.textpath import convert_text
from appliance.convert.topcounts import TopCounter
from appliance.ledger.dates import DayOf
from appliance.spool.record import SpoolRecord
from appliance.storage.keys import (
    TELEMETRY_TREE,
    UNKNOWN_HISTOGRAMS_TREE,
    invalid_tree,
    partition_key,
    tree_for_namespace,
)
from appliance.storage.schema import UNKNOWN, Schema
from appliance.submission.gzipcheck import is_gzip
from appliance.submission.routes import FORM_GENERIC, RouteError, parse_submit_path

# The key of a side line's histograms (the name the record itself once held them under).
UNKNOWN_HISTOGRAMS = "unknownHistograms"
# Dimensions the 2013 path form carries, and where the payload keeps them.
INFO_DIMENSIONS = ("reason", "appName", "appUpdateChannel", "appVersion", "appBuildID")

# orjson reads integers in [-2**63, 2**64) exactly and any other as a float,
# which it writes with an exponent ("1.8446744073709552e+19").
_INT_MIN, _INT_END = -(1 << 63), 1 << 64
# A gzip header's reserved flag bits (RFC 1952 2.3.1): zlib refuses them, ISA-L does not.
_RESERVED_FLAGS = 0xE0
# The reason for an exception no check foresaw; its type and message go in the detail.
CONVERSION_FAILED = "conversion_failed"
# How many telemetry partitions a converter remembers (they are forgotten all at once),
# and the longest dimension value it remembers one for.
PARTITIONS_REMEMBERED = 4096
REMEMBERED_VALUE_LENGTH = 200


@dataclass(frozen=True)
class Converted:
    """Where a record goes: `partition` (a store key prefix) and its line; `side`, the
    (partition, line) of its unknown histograms in the side tree, if it had any."""

    partition: str
    line: bytes
    invalid_reason: str | None = None
    unknown_histograms: tuple[str, ...] = ()
    side: tuple[str, bytes] | None = None

    def write(self, files, received_ns: int | None) -> None:
        """Add the record's line, and its side line if any, to `files` (`PartitionFiles`)."""
        files.write(self.partition, self.line, received_ns)
        if self.side is not None:
            files.write(*self.side, received_ns)


class Invalid(Exception):
    """A record that goes to invalid/, with a machine-readable reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _route(path: str):
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        path = "/submit/telemetry/" + path  # 2013 raw logs kept the path after the prefix
    return parse_submit_path(path)


def decompress(body: bytes, limit: int, inflate: ModuleType = isal_zlib) -> bytes:
    """Gunzip a gzip body (every member of it), refusing more than `limit` bytes
    of output in all; other bodies as they are.

    ISA-L's inflate (python-isal) gives the same bytes and verdicts as zlib's (once
    reserved header flags are refused here, as zlib does) at
    about 2.6x the speed: gunzip was a third of a ping's conversion
    (docs/performance.md, "Conversion"). `inflate` is the module whose
    `decompressobj` and `error` do the work: the stdlib's `zlib` has the same
    interface (the tests hold the two to the same answers).
    """
    if not is_gzip(body):
        return body
    members = []
    size = 0
    rest = body
    while True:
        if len(rest) > 3 and rest[3] & _RESERVED_FLAGS:
            raise Invalid("bad_gzip", "not a valid gzip stream: reserved header flags set")
        inflater = inflate.decompressobj(wbits=31)
        try:
            out = inflater.decompress(rest, limit - size + 1)
        except inflate.error as e:
            raise Invalid("bad_gzip", f"not a valid gzip stream: {e}") from None
        size += len(out)
        if size > limit or inflater.unconsumed_tail:
            raise Invalid("too_large", f"decompresses to more than {limit} bytes")
        if not inflater.eof:
            raise Invalid("bad_gzip", "truncated gzip stream")
        members.append(out)
        rest = inflater.unused_data
        if not rest:
            return out if len(members) == 1 else b"".join(members)
        if not is_gzip(rest):
            raise Invalid("bad_gzip", f"{len(rest)} bytes after the gzip stream are not "
                                      "a gzip member")


def parse_json(text: bytes):
    """The parsed document; Invalid if it is not JSON or has a number beyond a double."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        message = str(e)
        reason = ("too_deep" if "depth limit" in message else
                  "number_out_of_range" if "infinity" in message else "bad_json")
        raise Invalid(reason, message) from None
    return doc


def _check_integers(text: bytes) -> None:
    """Invalid("number_out_of_range") if an integer of the document is beyond 64 bits."""
    def exact(digits: str) -> int:
        value = int(digits)
        if not _INT_MIN <= value < _INT_END:
            raise Invalid("number_out_of_range",
                          f"integer {digits[:40]}{'...' if len(digits) > 40 else ''} "
                          "is beyond 64 bits")
        return value

    try:
        json.loads(text, parse_int=exact)
    except RecursionError:
        raise Invalid("too_deep", "nested too deeply to check its numbers") from None


def serialise(doc, source: bytes) -> bytes:
    """orjson's bytes for a document parsed from `source`; Invalid if they would not hold
    the same data (nesting deeper than orjson writes, integers beyond 64 bits)."""
    try:
        out = orjson.dumps(doc)
    except TypeError as e:  # orjson.JSONEncodeError
        if "ecursion" in str(e):
            raise Invalid("too_deep", f"nested deeper than can be stored: {e}") from None
        raise
    # An integer orjson could not read exactly is now a float of at least 2**63,
    # written with an exponent: rare, so only then is the source read again. (A
    # search for "+" is a memchr; one for "e+" alone costs a tenth of the record.)
    if b"+" in out and b"e+" in out:
        _check_integers(source)
    return out


class RecordConverter:
    """Converts spool records, counting outcomes in `counts`."""

    def __init__(self, specs: SpecStore, telemetry_schema: Schema, *,
                 max_decompressed_bytes: int):
        self.specs = specs
        self.telemetry_schema = telemetry_schema
        self.generic_schema = Schema.generic_default()
        self.max_decompressed = max_decompressed_bytes
        self.invalid_by_reason: Counter[str] = Counter()  # keyed by our own reasons only
        self.unknown_histograms = TopCounter()  # names come from clients: bounded
        self.converted = 0
        self._partitions: dict[tuple, tuple[str, list[str]]] = {}
        self._revision_guess: str | None = None     # the last ping's (convert/textpath.py)
        self._day_of = DayOf()  # a record's submission_date, worked out once a day

    def convert(self, record: SpoolRecord) -> Converted:
        """The record's partition and line; never raises, whatever the record holds."""
        date = self._day_of(record.received_ns)
        route = None
        try:
            route = _route(record.path)
            text = decompress(record.body, self.max_decompressed)
            side = None
            if route.form == FORM_GENERIC:
                payload = parse_json(text)
                partition = self._generic_partition(record, route, payload, date)
                unknown: tuple[str, ...] = ()
            else:
                result = self._convert_telemetry(text)
                payload, unknown = result.payload, tuple(result.unknown)
                partition, values = self._telemetry_partition(route.dimensions, payload, date)
                if unknown:
                    side = (partition_key(UNKNOWN_HISTOGRAMS_TREE, values), b"%s\t%s\n" % (
                        route.doc_id.encode(), serialise({UNKNOWN_HISTOGRAMS: result.unknown,
                                                          "revision": result.revision}, text)))
            line = b"%s\t%s\n" % (route.doc_id.encode(), serialise(payload, text))
        except RouteError as e:
            return self._invalid(record, None, date, Invalid("bad_path", str(e)))
        except Invalid as e:
            return self._invalid(record, route, date, e)
        except Exception as e:  # noqa: BLE001 - no record may stop the converter
            return self._invalid(record, route, date, failure(e))
        self.converted += 1
        self.unknown_histograms.update(unknown)
        return Converted(partition, line, None, unknown, side)

    def _convert_telemetry(self, text: bytes) -> ConvertResult:
        """A telemetry ping converted: from its text where the text path is sure of the
        result (convert/textpath.py), else parsed whole and converted as ever."""
        result = convert_text(text, self.specs, self._revision_guess)
        if result is not None:
            self._revision_guess = result.revision
            return result
        try:
            return convert_payload(parse_json(text), self.specs, json_rows=True)
        except ConversionError as e:
            raise Invalid(e.reason, e.detail) from None

    def quarantine(self, record: SpoolRecord, reason: str, detail: str) -> Converted:
        """The invalid/ line of a record that is not converted at all (it crashed the
        converter): only its path is read."""
        date = self._day_of(record.received_ns)
        try:
            route = _route(record.path)
        except Exception:  # noqa: BLE001 - partitioned as far as known
            route = None
        return self._invalid(record, route, date, Invalid(reason, detail))

    def _telemetry_partition(self, url_dims: dict[str, str], payload,
                             date: str) -> tuple[str, list[str]]:
        """The partition of a telemetry record and its key segments, from its path's
        dimensions, else its info's. Remembered per dimension values: most records
        of a day share a few of them, and working them out again costs ~10 us."""
        if url_dims:
            # a dimension missing from the info (below) is None: UNKNOWN
            values: dict[str, str | None] = dict(url_dims)
        else:
            info = payload.get("info") if isinstance(payload, dict) else None
            info = info if isinstance(info, dict) else {}
            values = {name: _text(info.get(name)) for name in INFO_DIMENSIONS}
        values["submission_date"] = date
        remembered = tuple(values.items())
        found = self._partitions.get(remembered)
        if found is None:
            segments = self.telemetry_schema.partition(values)
            found = (partition_key(TELEMETRY_TREE, segments), segments)
            # the values are the client's: long ones are not kept
            if all(v is None or len(v) <= REMEMBERED_VALUE_LENGTH for v in values.values()):
                if len(self._partitions) >= PARTITIONS_REMEMBERED:
                    self._partitions.clear()
                self._partitions[remembered] = found
        return found

    def _generic_partition(self, record: SpoolRecord, route, payload, date: str) -> str:
        """The partition of a generic-form document, which gets its ``metadata`` here."""
        header = headers_of(record)
        if isinstance(payload, dict):
            payload["metadata"] = metadata(record, route.dimensions, route.doc_id, header)
        values = dict(route.dimensions, submission_date=date, traffic=traffic(header),
                      channel=channel(payload))
        return partition_key(tree_for_namespace(values["namespace"]),
                             self.generic_schema.partition(values))

    def _invalid(self, record: SpoolRecord, route, date: str, error: Invalid) -> Converted:
        """A line for invalid/: the reason and the original bytes, partitioned as far as known."""
        self.invalid_by_reason[error.reason] += 1
        if route is None:
            partition = partition_key(invalid_tree(UNKNOWN), self.generic_schema.partition(
                {"submission_date": date}))
            doc_id = "-"
        elif route.form == FORM_GENERIC:
            values = dict(route.dimensions, submission_date=date,
                          traffic=traffic(headers_of(record)))
            partition = partition_key(invalid_tree(tree_for_namespace(values["namespace"])),
                                      self.generic_schema.partition(values))
            doc_id = route.doc_id
        else:
            values = dict(route.dimensions, submission_date=date)
            partition = partition_key(invalid_tree(TELEMETRY_TREE),
                                      self.telemetry_schema.partition(values))
            doc_id = route.doc_id
        entry = {
            "reason": error.reason,
            "detail": error.detail[:500],
            "record_id": record.id_hex,
            "received_ns": record.received_ns,
            "path": record.path,
            "headers": record.headers,
            "body_base64": base64.b64encode(record.body).decode(),
        }
        if record.client_ip is not None:
            entry["client_ip"] = record.client_ip
        line = b"%s\t%s\n" % (doc_id.encode(), orjson.dumps(entry))
        return Converted(partition, line, error.reason)


def failure(error: Exception) -> Invalid:
    """The Invalid for an exception no check foresaw: its type in the detail."""
    reason = "too_deep" if isinstance(error, RecursionError) else CONVERSION_FAILED
    return Invalid(reason, f"{type(error).__name__}: {error}")


def _text(value) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)
