"""One job: its heading, its output as a table (paged), and its log (followed while it runs)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Log, Static, TabbedContent, TabPane

from appliance.admin.client import AdminError
from appliance.jobs.states import ACTIVE
from appliance.tui.feed import Update, Wants
from appliance.tui.jobrow import job_heading
from appliance.tui.messages import ChunkFailed, ChunkRead, JobChanged
from appliance.tui.screen import DashboardScreen, dashboard
from appliance.tui.tabular import TableReader

PAGE_BYTES = 65536
LOG_LINES = 10_000  # the job log view keeps this many last lines


def column_heading(index: int, width: int, header: list[str] | None = None) -> str:
    """The job's own heading when its `setup_reduce` wrote a header line (a CSV header);
    else, as a job's output is `key<TAB>value...` lines: `key`, then `value` (`value 1`,
    `value 2`, ... when a line has several)."""
    if header and index < len(header):
        return header[index]
    if index == 0:
        return "key"
    return "value" if width <= 2 else f"value {index}"


class JobScreen(DashboardScreen):
    """Pushed over the jobs table; Escape goes back."""

    CSS_PATH = "jobview.tcss"
    WANTS = Wants(jobs=True)
    # The footer shows only what applies now (m with more output, c while the job runs, t
    # names the other tab), so it fits 80 columns next to the app's keys.
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("m", "more", "More"),
        Binding("c", "cancel", "Cancel"),
        Binding("t", "show_tab('log-tab')", "Job log"),
        Binding("t", "show_tab('output-tab')", "Output"),
    ]

    def __init__(self, job_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_id = job_id
        self.job: dict[str, Any] | None = None
        self.reader = TableReader()
        self.header: list[str] | None = None  # the output's header row; None: not read yet
        self.output_offset: int | None = None  # None: nothing read yet
        self.output_eof = False
        self.log_offset = 0
        self.log_eof = False
        self._log_settled = False  # the log was read after the job had ended
        self._reading: set[str] = set()  # kinds with a read in flight

    def body(self) -> ComposeResult:
        yield Static(f"{self.job_id}: loading…", id="job-heading", markup=False)
        with TabbedContent(id="job-tabs"):
            with TabPane("Output", id="output-tab"):
                yield Static("no output yet", id="output-status", markup=False)
                yield DataTable(id="output-table", zebra_stripes=True)
            with TabPane("Log", id="log-tab"):
                yield Log(id="job-log", highlight=False, max_lines=LOG_LINES)

    def show(self, update: Update) -> None:
        if update.jobs is None:
            return
        job = next((j for j in update.jobs if j["id"] == self.job_id), None)
        if job is not None:
            self.show_job(job)

    def show_job(self, job: dict[str, Any]) -> None:
        """Redraw the heading and read whatever new output and log there is."""
        self.job = job
        self.refresh_bindings()
        self.query_one("#job-heading", Static).update(job_heading(job))
        if self.output_offset is None and job.get("output_bytes") is not None:
            self._read("output", 0)
        active = job["state"] in ACTIVE
        if active or not self.log_eof or not self._log_settled:
            # One more read after the job ends picks up its last lines.
            if not active and "log" not in self._reading:
                self._log_settled = True
            self._read("log", self.log_offset)

    def action_more(self) -> None:
        if self.output_offset is not None and not self.output_eof:
            self._read("output", self.output_offset)

    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab

    def action_cancel(self) -> None:
        if self.job is not None and self.job["state"] in ACTIVE:
            self._cancel()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "more":
            return self.output_offset is not None and not self.output_eof
        if action == "cancel":
            return self.job is not None and self.job["state"] in ACTIVE
        if action == "show_tab":
            tabs = self.query("#job-tabs")
            return not tabs or tabs.first(TabbedContent).active != parameters[0]
        return True

    def on_tabbed_content_tab_activated(self) -> None:
        self.refresh_bindings()

    def _read(self, kind: str, offset: int) -> None:
        if kind not in self._reading:
            self._reading.add(kind)
            self._fetch(kind, offset)

    @work(thread=True, group="job-read")
    def _fetch(self, kind: str, offset: int) -> None:
        client = dashboard(self.app).client
        read = client.job_output if kind == "output" else client.job_log
        try:
            self.post_message(ChunkRead(self.job_id, kind, read(self.job_id, offset, PAGE_BYTES)))
        except AdminError as e:
            self.post_message(ChunkFailed(self.job_id, kind, e.message))

    @work(thread=True, group="cancel")
    def _cancel(self) -> None:
        try:
            self.post_message(JobChanged(dashboard(self.app).client.cancel_job(self.job_id)))
        except AdminError as e:
            self.app.call_from_thread(self.notify, f"cannot cancel: {e.message}",
                                      severity="error")

    def on_job_changed(self, message: JobChanged) -> None:
        message.stop()
        self.show_job(message.job)

    def on_chunk_read(self, message: ChunkRead) -> None:
        self._reading.discard(message.kind)
        chunk = message.chunk
        if message.kind == "log":
            self.query_one("#job-log", Log).write(chunk["text"])
            self.log_offset, self.log_eof = chunk["next_offset"], chunk["eof"]
            if not chunk["eof"]:  # catch up with the log; then one read per poll follows it
                self._read("log", self.log_offset)
            return
        self.output_offset, self.output_eof = chunk["next_offset"], chunk["eof"]
        self.refresh_bindings()
        self._add_rows(self.reader.feed(chunk["text"], eof=chunk["eof"]))
        table = self.query_one("#output-table", DataTable)
        more = "all" if chunk["eof"] else "m: more"
        self.query_one("#output-status", Static).update(
            f"{table.row_count} rows · {chunk['next_offset']} of {chunk['size']} bytes ({more})")

    def on_chunk_failed(self, message: ChunkFailed) -> None:
        self._reading.discard(message.kind)
        if message.kind == "output":
            self.query_one("#output-status", Static).update(f"no output: {message.error}")

    def _add_rows(self, rows: list[list[str]]) -> None:
        if self.header is None and rows:
            summary = (self.job or {}).get("summary") or {}
            self.header = rows.pop(0) if summary.get("header_lines") else []
        table = self.query_one("#output-table", DataTable)
        while len(table.columns) < self.reader.width:
            table.add_column(column_heading(len(table.columns), self.reader.width, self.header),
                             default="")
        width = len(table.columns)
        table.add_rows(row + [""] * (width - len(row)) for row in rows)
