"""The `context` objects a job's functions write to (the 2013 Telemetry job API).

- `MapContext.write(key, value)`: one map (or combine) output pair.
- `ReduceContext.write(key, value)`: one output record,
  ``str(key) + field_separator + str(value) + record_separator``;
  `writeline(text)`: ``text + record_separator``;
  `writecsv(fields)`: one row as the 2013 runner wrote it, with the `csv`
  module's default dialect (comma, ``"`` quoting when needed, CRLF), whatever
  the separators.
- `setup_reduce(context)` may change both separators (defaults tab and
  newline) and may write a header: the driver runs it once to take what it
  writes (`setup_header`), which goes once at the top of the output; the
  reducers run it again for the separators and drop its writes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from appliance.mr.job import Job, JobError, describe_error


class MapContext:
    """What `map` and `combine` write to; `write` is the runner's sink, called directly."""

    __slots__ = ("write",)

    def __init__(self, write: Callable[[Any, Any], None]) -> None:
        self.write = write


class ReduceContext:
    """What `setup_reduce` configures and `reduce` writes output records to.

    `sink` receives each formatted record as a str. A map-only job's map
    output is formatted the same way, with the separators `setup_reduce` sets.
    """

    def __init__(self, sink: Callable[[str], None], field_separator: str = "\t",
                 record_separator: str = "\n") -> None:
        self._sink = sink
        self.field_separator = field_separator
        self.record_separator = record_separator

    def write(self, key: Any, value: Any) -> None:
        self._sink(f"{key}{self.field_separator}{value}{self.record_separator}")

    def writeline(self, text: Any) -> None:
        self._sink(f"{text}{self.record_separator}")

    def writecsv(self, fields: list[Any]) -> None:
        buf = io.StringIO()
        try:
            csv.writer(buf).writerow(fields)
        except csv.Error as e:
            raise JobError(f"writecsv({fields!r:.200}): {e}") from e
        self._sink(buf.getvalue())


def setup_header(job: Job) -> str:
    """What the job's `setup_reduce` writes (a CSV header, say): "" without one.

    Run once, by the driver, so the header is in the output once whatever the
    number of reducers (in 2013 each reducer's output started with it).
    """
    if job.setup_reduce is None:
        return ""
    header: list[str] = []
    call_setup(job, ReduceContext(header.append))
    return "".join(header)


def output_separators(job: Job) -> tuple[str, str]:
    """The field and record separators that the job's `setup_reduce` sets (tab and newline
    without one). A map-only job's records use them too: in 2013 its map output went
    through a reducer's context."""
    ctx = ReduceContext(lambda text: None)  # the header is the driver's (`setup_header`)
    call_setup(job, ctx)
    return ctx.field_separator, ctx.record_separator


def call_setup(job: Job, ctx: ReduceContext) -> None:
    """Call `setup_reduce(ctx)` (if the job has one); its exceptions become a JobError
    naming it."""
    if job.setup_reduce is None:
        return
    try:
        job.setup_reduce(ctx)
    except JobError:
        raise
    except Exception as e:
        raise JobError(f"job script {job.path}: setup_reduce raised {type(e).__name__}: "
                       f"{e}\n{describe_error(e)}") from None
