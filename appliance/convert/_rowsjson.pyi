"""Types of the compiled appliance/convert/_rowsjson.c (see appliance/convert/rowsjson.py)."""

from collections.abc import Callable

def rows_json(histograms: dict, table: dict, unknown: dict,
              dumps: Callable[[object], bytes], /) -> bytes | None: ...
