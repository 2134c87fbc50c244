"""Converting a classic ping straight from its JSON text (docs/conversion.md, "The text path").

Most of a ping's bytes, and most of what orjson.loads does for it, is its
`histograms` object, which the conversion only reads to write again in
another form. `convert_text(text, specs)` leaves that object out of the
parse: the compiled `histograms_start` finds where it begins; the compiled
`rows_text` writes the converted object from the text (the same bytes
`rows_json` writes from the parsed ping) and says where it ends; orjson
parses the document with `{}` in its place, and the converted object goes
back in as an `orjson.Fragment`. The spec is the one of the revision the
caller guesses (the previous ping's), as "info" usually comes after the
histograms; when the document names another revision, or there is no guess,
the histograms are converted again with its spec. The values of histograms
the spec does not know are parsed by orjson, each on its own.

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
from appliance.convert.specs import (
    BadRevision,
    RevisionSpec,
    SpecStore,
    UnknownRevision,
    revision_key,
)

try:
    from appliance.convert._rowsjson import RowTable, histograms_start, rows_text
except ImportError:     # installed without a C compiler
    histograms_start = rows_text = None  # type: ignore[assignment]

PLACEHOLDER = b"{}"
# No name known: every histogram is skipped over as unknown, to find where they end.
NO_NAMES = None if rows_text is None else RowTable({})


def convert_text(text: bytes, specs: SpecStore, guess: str | None = None) -> ConvertResult | None:
    """The converted ping of JSON `text`, its "histograms" an orjson.Fragment; or None
    when only the ordinary path (parse everything, then convert_payload) may decide.

    `guess` is the revision the ping probably has (the previous ping's): its
    "info" usually comes after its histograms, so they are converted with the
    guessed spec, then again if the ping names another revision.
    """
    if histograms_start is None or type(text) is not bytes:
        return None
    start = histograms_start(text)
    if start is None:
        return None
    converted = _rows(text, start, _spec(specs, guess))
    # with no spec, or the wrong one, rows_text may give up where the ping's spec would
    # not: then, with an empty table (every histogram unknown), it finds where they end
    found = converted or rows_text(text, start, NO_NAMES, orjson.loads, orjson.dumps)
    if found is None:
        return None
    view = memoryview(text)
    doc = _loads(view[:start], PLACEHOLDER, view[found[2]:])
    rev = _revision(doc)
    if rev is None:
        return None
    if converted is None or rev != guess:
        converted = _rows(text, start, _spec(specs, rev))
        if converted is None:
            return None
    rows, unknown_spans, _ = converted
    unknown = {}
    for name, first, last in unknown_spans:
        value = _loads(view[first:last])
        if value is _INVALID:
            return None
        unknown[name] = value
    doc["histograms"] = orjson.Fragment(rows)
    doc["ver"] = VERSION_CONVERTED
    return ConvertResult(doc, True, unknown, rev)


def _rows(text: bytes, start: int, spec: RevisionSpec | None):
    """rows_text with `spec`'s table; None without a spec or if rows_text gives up."""
    if spec is None or spec.text_table is None:
        return None
    return rows_text(text, start, spec.text_table, orjson.loads, orjson.dumps)


def _spec(specs: SpecStore, rev: str | None) -> RevisionSpec | None:
    if rev is None:
        return None
    try:
        return specs.get(rev)
    except UnknownRevision:     # asked again by the ordinary path: a remembered miss
        return None


_INVALID = object()


def _loads(*parts):
    """What orjson reads from the text of `parts` joined, or _INVALID."""
    try:
        return orjson.loads(parts[0] if len(parts) == 1 else b"".join(parts))
    except orjson.JSONDecodeError:
        return _INVALID


def _revision(doc) -> str | None:
    """The revision hash of a plain "ver": 1 ping, else None."""
    if type(doc) is not dict:
        return None
    ver = doc.get("ver")
    info = doc.get("info")
    if type(ver) is not int or ver != VERSION_UNCONVERTED or type(info) is not dict:
        return None
    try:
        return revision_key(info.get("revision"))  # type: ignore[arg-type]
    except BadRevision:
        return None
