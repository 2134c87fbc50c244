"""Converting a classic ping straight from its JSON text (docs/conversion.md, "The text path").

Most of a ping's bytes, and most of what orjson.loads does for it, is its
`histograms` object, which the conversion only reads to write again in
another form. `convert_text(text, specs)` leaves that object out of the
parse: the compiled `histograms_span` finds it in the text, orjson parses the
rest of the document with `{}` in its place, and the compiled `rows_text`
writes the converted object from the text (the same bytes `rows_json` writes
from the parsed ping), which goes back in as an `orjson.Fragment`. The values
of histograms the spec does not know are parsed by orjson, each on its own.

It returns None whenever it cannot be sure of giving today's result: not a
plain "ver": 1 ping with a non-empty histograms object that its revision's
spec is found for; a top-level key with an escape or "histograms" twice;
anything in a known histogram outside the plain subset rowstext.c reads (an
escape or a byte beyond ASCII, a duplicate key, a number that is not plain,
nesting it does not expect, anything the Python conversion would refuse);
invalid JSON anywhere. The caller then parses the whole ping and converts it
as before, which gives every error and every odd case its usual result. So
this changes only speed. Without the compiled extension it always returns
None.
"""

from __future__ import annotations

import orjson

from appliance.convert.payload import VERSION_CONVERTED, VERSION_UNCONVERTED, ConvertResult
from appliance.convert.specs import BadRevision, SpecStore, UnknownRevision, revision_key

try:
    from appliance.convert._rowsjson import histograms_span, rows_text
except ImportError:     # installed without a C compiler
    histograms_span = rows_text = None  # type: ignore[assignment]

PLACEHOLDER = b"{}"


def convert_text(text: bytes, specs: SpecStore) -> ConvertResult | None:
    """The converted ping of JSON `text`, its "histograms" an orjson.Fragment; or None
    when only the ordinary path (parse everything, then convert_payload) may decide."""
    if histograms_span is None or type(text) is not bytes:
        return None
    span = histograms_span(text)
    if span is None:
        return None
    start, end = span
    view = memoryview(text)
    try:
        doc = orjson.loads(b"".join((view[:start], PLACEHOLDER, view[end:])))
    except orjson.JSONDecodeError:
        return None
    rev = _revision(doc)
    if rev is None:
        return None
    try:
        spec = specs.get(rev)
    except UnknownRevision:     # asked again by the ordinary path: a remembered miss
        return None
    converted = rows_text(text, start, end, spec.row_table, orjson.loads, orjson.dumps)
    if converted is None:
        return None
    rows, unknown_spans = converted
    unknown = {}
    for name, first, last in unknown_spans:
        try:
            unknown[name] = orjson.loads(view[first:last])
        except orjson.JSONDecodeError:
            return None
    doc["histograms"] = orjson.Fragment(rows)
    doc["ver"] = VERSION_CONVERTED
    return ConvertResult(doc, True, unknown, rev)


def _revision(doc) -> str | None:
    """The revision hash of a plain "ver": 1 ping, else None."""
    ver = doc.get("ver")
    info = doc.get("info")
    if type(ver) is not int or ver != VERSION_UNCONVERTED or type(info) is not dict:
        return None
    try:
        return revision_key(info.get("revision"))  # type: ignore[arg-type]
    except BadRevision:
        return None
