"""A ping's converted histograms as JSON text, without building the rows (docs/conversion.md).

`rows_json(histograms, table, unknown)` returns the bytes orjson.dumps writes
for the object of rows that appliance/convert/payload.py builds (each
histogram's bucket counts then its five statistics), or None when the ping
is not entirely on the regular path. It puts the histograms `table` does not
know into `unknown`, in order (the caller empties `unknown` again when it
gets None). `table` is `RevisionSpec.row_table`: name -> (bucket key ->
position, number of buckets).

The regular path is what real pings are: a name of printable ASCII without
'"' or '\\'; a histogram object whose "values" object has only canonical
bucket keys of the layout and counts that are integers in [0, 2**64); the
five statistics absent, null, floats or integers in [-2**63, 2**64). Anything
else (every error, and oddities such as a key "05") gets None, and
payload.py converts the ping the ordinary way, which knows every error: so
this module changes only speed, never a result.

Why: in pure Python the per-histogram loop and orjson writing ~7,000
numbers per ping cost as much again as parsing the ping (docs/performance.md,
"Conversion"). The work is done by a small C extension
(appliance/convert/_rowsjson.c, built by `pip install` where a C compiler
exists). Floats are formatted by orjson itself (one call on the list of them),
so their text cannot differ. Without the extension `rows_json` always returns
None: the same results, at the pure-Python speed. `COMPILED` says which.
"""

from __future__ import annotations

import orjson

try:
    from appliance.convert._rowsjson import rows_json as _compiled
except ImportError:     # installed without a C compiler
    _compiled = None    # type: ignore[assignment]

COMPILED = _compiled is not None


def rows_json(histograms: dict, table: dict, unknown: dict) -> bytes | None:
    """The JSON text of the converted `histograms`, or None (see the module docstring)."""
    if _compiled is None:
        return None
    return _compiled(histograms, table, unknown, orjson.dumps)
