"""Types of the compiled appliance/convert/_rowsjson.c (see appliance/convert/rowsjson.py
and appliance/convert/textpath.py)."""

from collections.abc import Callable

def rows_json(histograms: dict, table: dict, unknown: dict,
              dumps: Callable[[object], bytes], /) -> bytes | None: ...
def histograms_start(text: bytes, /) -> int | None: ...
def rows_text(text: bytes, start: int, table: dict,
              loads: Callable[[bytes], object], dumps: Callable[[object], bytes],
              /) -> tuple[bytes, list[tuple[str, int, int]], int] | None: ...
