"""The `context` objects a job's functions write to (the 2013 Telemetry job API).

- `MapContext.write(key, value)`: one map (or combine) output pair.
- `ReduceContext.write(key, value)`: one output record,
  ``str(key) + field_separator + str(value) + record_separator``;
  `writecsv(fields)`: one record formatted by the `csv` module with
  `field_separator` as the delimiter and `record_separator` as the line
  terminator. `setup_reduce(context)` may change both separators (defaults
  tab and newline); it may not write.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from appliance.mr.job import JobError


class MapContext:
    """What `map` and `combine` write to; `write` is the runner's sink, called directly."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[Any, Any], None]) -> None:
        self.write = write


class ReduceContext:
    """What `setup_reduce` configures and `reduce` writes output records to.

    `sink` receives each formatted record as a str. A map-only job's map
    output is formatted the same way, with the default separators.
    """

    def __init__(self, sink: Callable[[str], None], field_separator: str = "\t",
                 record_separator: str = "\n") -> None:
        self._sink = sink
        self.field_separator = field_separator
        self.record_separator = record_separator
        self._setup = False

    def _emit(self, text: str) -> None:
        if self._setup:
            raise JobError("setup_reduce may only set field_separator and record_separator; "
                           "it runs once per reducer process and may not write")
        self._sink(text)

    def write(self, key: Any, value: Any) -> None:
        self._emit(f"{key}{self.field_separator}{value}{self.record_separator}")

    def writecsv(self, fields: list) -> None:
        buf = io.StringIO()
        try:
            csv.writer(buf, delimiter=self.field_separator,
                       lineterminator=self.record_separator).writerow(fields)
        except (TypeError, csv.Error) as e:
            raise JobError(f"writecsv with field_separator {self.field_separator!r}: {e} "
                           f"(csv needs a one-character separator)") from e
        self._emit(buf.getvalue())
