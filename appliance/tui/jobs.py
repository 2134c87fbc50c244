"""The jobs table: state and progress of every job; launch, cancel, open."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from appliance.admin.client import AdminError
from appliance.jobs.states import ACTIVE
from appliance.tui.feed import Update, Wants
from appliance.tui.jobrow import JOB_COLUMNS, job_cells, name_room
from appliance.tui.jobview import JobScreen
from appliance.tui.launch import LaunchScreen
from appliance.tui.messages import JobChanged
from appliance.tui.screen import DashboardScreen, dashboard


class JobsScreen(DashboardScreen):
    """A row per job, newest first; columns sized to their content, names shortened only
    when the table would otherwise not fit the terminal."""

    CSS_PATH = "jobs.tcss"
    WANTS = Wants(jobs=True)
    BINDINGS = [
        Binding("n", "launch", "New job"),
        Binding("c", "cancel", "Cancel job"),
        Binding("enter", "open", "Open", show=True),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs: dict[str, dict[str, Any]] = {}
        self._follow: str | None = None  # a job just launched: select it when it shows up

    def body(self) -> ComposeResult:
        table: DataTable[Any] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "Jobs"
        yield table

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*JOB_COLUMNS)

    def show(self, update: Update) -> None:
        if update.jobs is not None:
            self.show_jobs(update.jobs)

    def on_resize(self) -> None:
        self.show_jobs(list(self.jobs.values()))

    def show_jobs(self, jobs: list[dict[str, Any]]) -> None:
        """Redraw rows; the cursor stays on the job it was on (by id), wherever new jobs put
        it, or moves to a job just launched."""
        table = self.query_one(DataTable)
        selected = self.selected()
        if self._follow in (job["id"] for job in jobs):
            selected, self._follow = self._follow, None
        self.jobs = {job["id"]: job for job in jobs}
        rows = [job_cells(job) for job in jobs]
        room = name_room(rows, table.scrollable_content_region.width)
        rows = [job_cells(job, room) for job in jobs]
        if [str(key.value) for key in table.rows] != list(self.jobs):
            table.clear()
            for job, cells in zip(jobs, rows, strict=True):
                table.add_row(*cells, key=job["id"])
        else:
            for job, cells in zip(jobs, rows, strict=True):
                for column, cell in zip(table.columns, cells, strict=True):
                    table.update_cell(job["id"], column, cell, update_width=True)
        if selected in self.jobs:
            table.move_cursor(row=table.get_row_index(selected))

    def selected(self) -> str | None:
        """The id of the job under the cursor."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def action_launch(self) -> None:
        def launched(job: dict[str, Any] | None) -> None:
            if job is not None:
                self._follow = job["id"]
                self.notify(f"{job['id']} submitted: {job.get('name', '')}")
                self.app.push_screen(JobScreen(job["id"]))

        self.app.push_screen(LaunchScreen(), launched)

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        job_id = self.selected()
        if job_id is not None:
            self.app.push_screen(JobScreen(job_id))

    def action_cancel(self) -> None:
        job_id = self.selected()
        if job_id is None:
            return
        state = self.jobs[job_id]["state"]
        if state not in ACTIVE:
            self.notify(f"job {job_id} already finished ({state.replace('_', ' ')}): "
                        f"nothing to cancel", severity="warning")
            return
        self._cancel(job_id)

    @work(thread=True, group="cancel")
    def _cancel(self, job_id: str) -> None:
        try:
            self.post_message(JobChanged(dashboard(self.app).client.cancel_job(job_id)))
        except AdminError as e:
            self.app.call_from_thread(self.notify, f"cannot cancel {job_id}: {e.message}",
                                      severity="error")

    def on_job_changed(self, message: JobChanged) -> None:
        self.notify(f"{message.job['id']} is {message.job['state']}")
        self.show_jobs([message.job if j["id"] == message.job["id"] else j
                        for j in self.jobs.values()])
