"""How `appliance job run` shows a job's progress: a rich progress bar on a terminal, a line
per second otherwise (logs, pipes, CI)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from appliance.mr.progress import Progress as JobProgress
from appliance.mr.progress import ProgressCallback, throttle
from appliance.units import human_bytes


def line_printer(err: TextIO, interval: float = 1.0) -> ProgressCallback:
    """A progress callback printing one line per phase change, and at most one a second."""

    def show(info: JobProgress) -> None:
        line = (f"{info.phase}: {info.files_done}/{info.files_total} files, "
                f"{info.records} records, {info.bytes} bytes")
        if info.errors:
            line += f", {info.errors} errors"
        if info.phase == "reduce":
            line += f", reducers {info.reducers_done}/{info.reducers_total}"
        print(line, file=err, flush=True)

    return throttle(show, interval)


@contextmanager
def job_progress(err: TextIO, bytes_total: int) -> Iterator[ProgressCallback]:
    """Yield a progress callback for a LocalRunner/DaskRunner: a bar over the input bytes
    (map, and the first pass of --dedupe), then over the reducers, when `err` is a terminal;
    `line_printer` otherwise."""
    if not err.isatty():
        yield line_printer(err)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description:<7}"), BarColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=err), transient=False) as bar:
        tasks: dict[str, TaskID] = {}

        def show(info: JobProgress) -> None:
            phase = info.phase
            name = "reduce" if phase in ("reduce", "merge", "done") else phase
            if name not in tasks:
                total = bytes_total if name != "reduce" else None
                tasks[name] = bar.add_task(name, total=total, detail="")
            detail = (f"{human_bytes(info.bytes)}/{human_bytes(bytes_total)}, "
                      f"{info.files_done}/{info.files_total} files, "
                      f"{info.records:,} records"
                      + (f", {info.errors} errors" if info.errors else ""))
            if name == "reduce":
                if phase == "reduce":
                    detail = (f"reducers {info.reducers_done}/{info.reducers_total}, "
                              f"{info.records:,} records")
                    bar.update(tasks[name], total=info.reducers_total or 1,
                               completed=info.reducers_done, detail=detail)
                else:  # merging the reducers' output, then done
                    bar.update(tasks[name], completed=bar.tasks[tasks[name]].total)
            else:
                bar.update(tasks[name], completed=info.bytes, detail=detail)

        yield show
