"""Converting a classic Telemetry ping's histograms to the compact form (docs/conversion.md).

A "ver": 1 ping carries each histogram as an object:

    {"values": {"<bucket lower bound>": count, ...}, "sum": ..., "log_sum": ...,
     "log_sum_squares": ..., "sum_squares_lo": ..., "sum_squares_hi": ...,
     "bucket_count": ..., "range": [...], "histogram_type": ...}

`convert_payload` replaces it with one array, every bucket of the revision's
spec in order (0 where the ping has no entry) then the five statistics (-1
where absent or null):

    [count_0, ..., count_N-1, sum, log_sum, log_sum_squares, sum_squares_lo, sum_squares_hi]

and sets "ver" to 2. `STARTUP_X` histograms use the spec of `X`. A histogram
that the revision's spec does not define is taken out of the ping, unchanged,
and returned in `ConvertResult.unknown` (the 2013 server dropped it): the
converter keeps it beside the record, in the side tree of docs/storage.md, so
the record a job sees is the 2013 one and nothing is lost.

Which documents are converted:
- not a JSON object -> ConversionError("not_an_object");
- no "ver" key (not a classic ping: generic-edge documents, unified pings)
  and "ver": 2 (already converted) -> returned unchanged, converted=False;
- "ver": 3 (a Firefox OS 1.3 "first time use" ping) -> converted as the 2013
  server did (`convert_fxos`): a new "info" built from its flat
  "deviceinfo.*" keys, "pingID" removed, "ver" 2;
- any other "ver" -> unchanged (converted=False) by default, or
  ConversionError("unsupported_version") with unknown_version="reject" (what
  the 2013 server did for versions it did not know);
- "ver": 1 -> needs "info" (object); with "histograms" it needs
  "info.revision", without "info.revision" it must have no "histograms" (then
  there is nothing to convert and only "ver" changes, as in 2013).

Errors raise ConversionError with a `reason` from REASONS and a human
`detail`; the payload is left untouched. On success the payload is updated in
place and returned in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from appliance.convert.rowsjson import rows_json
from appliance.convert.specs import BadRevision, SpecStore, UnknownRevision, revision_key

VERSION_UNCONVERTED = 1
VERSION_CONVERTED = 2
VERSION_FXOS = 3
STATISTICS = ("sum", "log_sum", "log_sum_squares", "sum_squares_lo", "sum_squares_hi")

REASONS = frozenset({
    "not_an_object",        # the document is not a JSON object
    "missing_info",         # "info" is absent or not an object
    "missing_revision",     # "histograms" without "info.revision"
    "bad_revision",         # "info.revision" is not a revision URL
    "missing_histograms",   # "info.revision" without "histograms"
    "unknown_revision",     # no spec for the revision, locally or on the histogram server
    "spec_unavailable",     # the histogram server could not be asked: convert it again later
    "bad_histogram",        # "histograms", a histogram or its "values" is not an object,
                            # or a statistic is not a number
    "invalid_bucket",       # a "values" key is not an integer, not a bucket of the spec,
                            # or names a bucket twice
    "bad_count",            # a count is not an integer, or is negative
    "unsupported_version",  # "ver" is not 1, 2 or 3 (only with unknown_version="reject")
})


class ConversionError(ValueError):
    """A ping that cannot be converted. `reason` is one of REASONS."""

    def __init__(self, reason: str, detail: str, *, histogram: str | None = None,
                 transient: bool = False):
        if reason not in REASONS:
            raise ValueError(f"unknown conversion error reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.histogram = histogram      # the histogram at fault, if any
        self.transient = transient      # spec_unavailable: the server could not be asked


@dataclass(slots=True)
class ConvertResult:
    payload: dict
    converted: bool                     # False: returned unchanged (ver 2, no ver, other ver)
    unknown: dict = field(default_factory=dict)  # histograms the spec lacks, as received
    revision: str | None = None         # the revision hash used, if any

    @property
    def unknown_histograms(self) -> list[str]:
        """The names of the histograms taken out of the ping (`unknown`)."""
        return list(self.unknown)


def convert_payload(payload, specs: SpecStore, *, unknown_version: str = "keep",
                    json_rows: bool = False) -> ConvertResult:
    """Convert one parsed ping (see the module docstring).

    unknown_version: "keep" returns a document whose "ver" is neither 1 nor 2
    unchanged; "reject" raises ConversionError("unsupported_version").
    json_rows: True may give the converted "histograms" as an orjson.Fragment
    of the very bytes orjson.dumps writes for the rows (convert/rowsjson.py):
    faster, for a payload that is only going to be written with orjson.
    """
    if unknown_version not in ("keep", "reject"):
        raise ValueError(f"unknown_version must be 'keep' or 'reject', not {unknown_version!r}")
    if not isinstance(payload, dict):
        raise ConversionError("not_an_object",
                              f"the document is a JSON {_json_type(payload)}, not an object")
    if "ver" not in payload:
        return ConvertResult(payload, False)
    ver = payload["ver"]
    if type(ver) is not int or ver != VERSION_UNCONVERTED:
        if type(ver) is int and ver == VERSION_CONVERTED:
            return ConvertResult(payload, False)
        if type(ver) is int and ver == VERSION_FXOS:
            return ConvertResult(convert_fxos(payload), True)
        if unknown_version == "reject":
            raise ConversionError("unsupported_version", f"unknown ver {str(ver)[:40]!r}")
        return ConvertResult(payload, False)

    info = payload.get("info")
    if not isinstance(info, dict):
        raise ConversionError("missing_info", "no info object" if info is None
                              else f"info is a JSON {_json_type(info)}, not an object")
    has_histograms = "histograms" in payload
    if "revision" not in info:
        if has_histograms:
            raise ConversionError("missing_revision", "histograms without info.revision")
        payload["ver"] = VERSION_CONVERTED
        return ConvertResult(payload, True)
    try:
        rev = revision_key(info["revision"])
    except BadRevision as e:
        raise ConversionError("bad_revision", str(e)) from None
    if not has_histograms:
        raise ConversionError("missing_histograms", "info.revision without histograms")
    histograms = payload["histograms"]
    if not isinstance(histograms, dict):
        raise ConversionError("bad_histogram",
                              f"histograms is a JSON {_json_type(histograms)}, not an object")

    converted: dict = {}
    unknown: dict = {}
    if histograms:
        try:
            spec = specs.get(rev)
        except UnknownRevision as e:
            if e.transient:
                raise ConversionError("spec_unavailable", f"{e}; the record can be converted "
                                      "again once the server answers", transient=True) from None
            raise ConversionError("unknown_revision", str(e)) from None
        except BadRevision as e:  # pragma: no cover - revision_key only yields hashes
            raise ConversionError("bad_revision", str(e)) from None
        text = rows_json(histograms, spec.row_table, unknown) if json_rows else None
        if text is not None:
            # orjson writes a Fragment as the dict of rows it stands for
            converted = orjson.Fragment(text)  # type: ignore[assignment]
        else:
            unknown.clear()         # rows_json may have begun to fill it
            layouts = spec.layouts
            for name, hist in histograms.items():
                layout = layouts.get(name)
                if layout is None:
                    layout = spec.layout(name)      # STARTUP_ names
                    if layout is None:
                        unknown[name] = hist
                        continue
                converted[name] = _convert_one(name, hist, layout)

    payload["histograms"] = converted
    payload["ver"] = VERSION_CONVERTED
    return ConvertResult(payload, True, unknown, rev)


# A Firefox OS ping's info, as the 2013 server made it: each dimension from a flat
# top-level key (the FTU ping's "deviceinfo.*" keys hold dots in their names).
FXOS_INFO = (("appUpdateChannel", "deviceinfo.update_channel"),
             ("appBuildID", "deviceinfo.platform_build_id"),
             ("appVersion", "deviceinfo.platform_version"))


def convert_fxos(payload: dict) -> dict:
    """Convert a "ver": 3 (Firefox OS 1.3) ping in place, as the 2013 server did.

    "info" is replaced by {"reason": "ftu", "appName": "FirefoxOS",
    "appUpdateChannel", "appBuildID", "appVersion"}, the last three taken from
    the top-level keys "deviceinfo.update_channel", "deviceinfo.platform_build_id"
    and "deviceinfo.platform_version" ("UNKNOWN" where absent); "pingID" is
    removed and "ver" becomes 2. Every other key is kept as received.
    """
    info = {"reason": "ftu", "appName": "FirefoxOS"}
    for name, key in FXOS_INFO:
        info[name] = payload.get(key, "UNKNOWN")
    payload["info"] = info
    payload.pop("pingID", None)
    payload["ver"] = VERSION_CONVERTED
    return payload


def _convert_one(name: str, hist, layout) -> list:
    if not isinstance(hist, dict):
        raise ConversionError("bad_histogram",
                              f"{name} is a JSON {_json_type(hist)}, not an object",
                              histogram=name)
    values = hist.get("values")
    if not isinstance(values, dict):
        raise ConversionError("bad_histogram", f"{name} has no values object" if values is None
                              else f"{name}.values is a JSON {_json_type(values)}, not an object",
                              histogram=name)
    row: list[int | float] = [0] * layout.n  # counts, then statistics (sums are floats)
    index = layout.index
    checked = False
    for key, count in values.items():
        i = index.get(key)
        if i is None or type(count) is not int or count < 0:
            if not checked:     # raises, or accepts keys like "05"
                _check_values(name, values, layout)
                checked = True
            i = layout.position(key)
        row[i] = count
    for stat in STATISTICS:
        v = hist.get(stat)
        if v is None:
            row.append(-1)
        elif type(v) is int or type(v) is float:
            row.append(v)
        else:
            raise ConversionError("bad_histogram",
                                  f"{name}.{stat} is {str(v)[:40]!r}, not a number",
                                  histogram=name)
    return row


def _check_values(name: str, values: dict, layout) -> None:
    """Raise the ConversionError for the first bad entry of `values`; return if
    every key is a bucket (possibly written as "05") named once and every count
    a non-negative integer."""
    seen = set()
    for key, count in values.items():
        i = layout.position(key)
        if i is None:
            raise ConversionError("invalid_bucket", f"{name}.values has no bucket "
                                  f"{str(key)[:40]!r} in the spec", histogram=name)
        if i in seen:
            raise ConversionError("invalid_bucket",
                                  f"{name}.values names bucket {layout.bounds[i]} twice",
                                  histogram=name)
        seen.add(i)
        if type(count) is not int or count < 0:
            raise ConversionError("bad_count", f"{name}.values[{key!r}] is "
                                  f"{str(count)[:40]!r}, not a count", histogram=name)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
