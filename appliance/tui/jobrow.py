"""How a job looks in a table row and in the job view's heading."""

from __future__ import annotations

import time
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from appliance.jobs.states import JobState
from appliance.mr.runner import describe_sources
from appliance.units import human_bytes, human_count, human_seconds, text_bar

STATE_STYLES = {JobState.QUEUED: "cyan", JobState.RUNNING: "bold yellow",
                JobState.SUCCEEDED: "green", JobState.FAILED: "bold red",
                JobState.CANCELLED: "magenta", JobState.TIMED_OUT: "bold red"}
WARNING_STYLE = "bold yellow"  # a succeeded job with a warning (no input records)
JOB_COLUMNS = ("id", "name", "state", "progress", "records", "UTC", "took")
NAME = JOB_COLUMNS.index("name")
MIN_NAME = 8  # below this a name is no use: the table scrolls sideways instead
CELL_PADDING = 2  # a DataTable column's padding, one cell either side


def progress_fraction(job: dict[str, Any]) -> float:
    """0..1 of the input read; a finished job is full."""
    if job["state"] == JobState.SUCCEEDED:
        return 1.0
    progress = job.get("progress") or {}
    total = progress.get("bytes_total") or progress.get("files_total")
    done = progress.get("bytes") if progress.get("bytes_total") else progress.get("files_done")
    return (done or 0) / total if total else 0.0


def progress_cell(job: dict[str, Any], width: int = 8, phase: bool = False) -> Text:
    """`███░░░ 3/8`: a bar and the files done (`map 3/8` with the phase)."""
    progress = job.get("progress") or {}
    text = Text(text_bar(progress_fraction(job), width), style=STATE_STYLES.get(job["state"], ""))
    text.append(f" {progress.get('phase', '')}" if phase else "")
    text.append(f" {progress.get('files_done', 0)}/{progress.get('files_total', 0)}")
    return text


def utc_clock(epoch: float | None) -> str:
    """HH:MM:SS in UTC (the dashboard never shows local time: servers are in UTC)."""
    return "-" if epoch is None else time.strftime("%H:%M:%S", time.gmtime(epoch))


def job_cells(job: dict[str, Any], name_width: int | None = None) -> list[Any]:
    """The cells of JOB_COLUMNS for one job; a name longer than `name_width` ends in `…`."""
    took = None
    if job.get("started_at") is not None and job.get("finished_at") is not None:
        took = job["finished_at"] - job["started_at"]
    name = Text(job.get("name", ""))
    if name_width is not None and name.cell_len > name_width:
        name.truncate(name_width, overflow="ellipsis")
    state = Text(job["state"].replace("_", " "), style=STATE_STYLES.get(job["state"], ""))
    if job.get("warning"):
        state = Text(f"{job['state']} !", style=WARNING_STYLE)
    return [job["id"], name, state,
            progress_cell(job), human_count((job.get("progress") or {}).get("records", 0)),
            utc_clock(job.get("submitted_at")), human_seconds(took) if took is not None else ""]


def name_room(rows: list[list[Any]], width: int) -> int:
    """How wide the name column can be in a table `width` cells wide, given every other
    column sized to its widest cell or heading (never below MIN_NAME)."""
    others = sum(max(cell_len(str(cell)) for cell in [heading, *column]) + CELL_PADDING
                 for i, (heading, *column) in enumerate(zip(JOB_COLUMNS, *rows, strict=True))
                 if i != NAME)
    return max(MIN_NAME, width - others - CELL_PADDING)


def job_heading(job: dict[str, Any]) -> Text:
    """Two to four lines: identity and state, progress, records read per source (spool,
    store, S3 per node) once finished, and the error if it failed."""
    options = job.get("options") or {}
    progress = job.get("progress") or {}
    text = Text(f"{job['id']}  {job.get('name', '')}  ", style="bold")
    text.append(job["state"].replace("_", " "), style=STATE_STYLES.get(job["state"], ""))
    text.append(f"  · {options.get('mappers', '?')} mappers, {options.get('reducers', '?')} "
                f"reducers, inputs {options.get('inputs', 'all')}\n")
    text.append_text(progress_cell(job, 20, phase=True))
    text.append(f" · {human_count(progress.get('records', 0))} records, "
                f"{human_bytes(progress.get('bytes', 0))}")
    if job.get("output_bytes") is not None:
        text.append(f" · output {human_bytes(job['output_bytes'])}")
    sources = (job.get("summary") or {}).get("sources")
    if sources:
        text.append(f"\nrecords read: {describe_sources(sources)}")
    if job.get("error"):
        text.append(f"\n{job['error']}", style="bold red")
    if job.get("warning"):
        text.append(f"\nwarning: {job['warning']}", style=WARNING_STYLE)
    return text
