"""The launch form: a script (file or pasted), a filter, options; errors shown beside fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    DirectoryTree,
    Footer,
    Input,
    Label,
    Select,
    TextArea,
)

from appliance.admin.client import AdminError
from appliance.jobs.request import JobRequest
from appliance.mr.plan import MODES as INPUTS
from appliance.tui.launch_request import RUNNERS, LaunchFields, build_request
from appliance.tui.messages import JobRejected, JobSubmitted
from appliance.tui.screen import dashboard

ERROR_FIELDS = ("script_path", "filter", "mappers", "reducers", "inputs", "runner", "server")
FILTER_REFUSED = "filter: "  # how the server's refusals of a filter start (jobs/request.py)


class PathPicker(ModalScreen[str | None]):
    """Pick a file under the working directory; Enter on a file chooses it, Escape gives up."""

    CSS_PATH = "launch.tcss"
    BINDINGS = [Binding("escape", "dismiss(None)", "Back")]

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            tree = DirectoryTree(self.root, id="picker-tree")
            tree.border_title = f"Pick a file under {self.root}"
            yield tree

    @on(DirectoryTree.FileSelected)
    def chosen(self, event: DirectoryTree.FileSelected) -> None:
        path = event.path
        try:
            path = path.relative_to(self.root)
        except ValueError:
            pass
        self.dismiss(str(path))


class LaunchScreen(ModalScreen[dict[str, Any] | None]):
    """Returns the job the server accepted, or None when cancelled."""

    CSS_PATH = "launch.tcss"
    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "launch", "Launch"),
        Binding("ctrl+o", "browse", "Pick file"),
    ]

    def __init__(self, cwd: Path | None = None):
        super().__init__()
        self.cwd = cwd or Path.cwd()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="launch-form") as form:
            form.border_title = "Launch a job"
            with Horizontal(classes="row"):
                yield Label("Script", classes="name")
                yield Input(placeholder="path/to/job.py", id="script_path", compact=True)
                yield Button("Browse…", id="browse", compact=True)
            yield Label("", id="script_path-error", classes="form-error")
            with Horizontal(classes="row paste"):
                yield Label("or paste", classes="name")
                yield TextArea(id="script_text", language=None, soft_wrap=False, compact=True)
            with Horizontal(classes="row"):
                yield Label("Filter", classes="name")
                yield Input(placeholder="filter.json or {...}; empty: everything", id="filter",
                            compact=True)
            yield Label("", id="filter-error", classes="form-error")
            with Horizontal(classes="row"):
                yield Label("Mappers", classes="name")
                yield Input("2", id="mappers", classes="number", compact=True)
                yield Label("Reducers", classes="inline")
                yield Input("1", id="reducers", classes="number", compact=True)
            with Horizontal(classes="row"):
                yield Label("Inputs", classes="name")
                yield Select([(name, name) for name in INPUTS], value="all", allow_blank=False,
                             id="inputs", compact=True)
                yield Checkbox("dedupe", id="dedupe", compact=True)
            with Horizontal(classes="row"):
                yield Label("Runner", classes="name")
                yield Select([(name, name) for name in RUNNERS], value="server",
                             allow_blank=False, id="runner", compact=True)
                yield Input(placeholder="scheduler tcp://HOST:8786; empty: the server's",
                            id="scheduler", compact=True)
            for name in ("mappers", "reducers", "inputs", "runner", "server"):
                yield Label("", id=f"{name}-error", classes="form-error")
            with Horizontal(classes="row buttons"):
                yield Button("Launch", variant="primary", id="launch", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for name in ERROR_FIELDS:
            self.query_one(f"#{name}-error", Label).display = False
        self.query_one("#script_path", Input).focus()

    def fields(self) -> LaunchFields:
        """What the form holds now."""
        return LaunchFields(
            script_path=self.query_one("#script_path", Input).value,
            script_text=self.query_one("#script_text", TextArea).text,
            filter=self.query_one("#filter", Input).value,
            mappers=self.query_one("#mappers", Input).value,
            reducers=self.query_one("#reducers", Input).value,
            inputs=str(self.query_one("#inputs", Select).value),
            dedupe=self.query_one("#dedupe", Checkbox).value,
            runner=str(self.query_one("#runner", Select).value),
            scheduler=self.query_one("#scheduler", Input).value)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Put each message under its field; fields without one show nothing."""
        for name in ERROR_FIELDS:
            label = self.query_one(f"#{name}-error", Label)
            label.update(errors.get(name, ""))
            label.display = name in errors

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        request, errors = build_request(self.fields(), self.cwd)
        self.show_errors(errors)
        if request is not None:
            self.query_one("#launch", Button).disabled = True
            self._submit(request)

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#browse")
    def action_browse(self) -> None:
        def picked(path: str | None) -> None:
            if path is not None:
                self.query_one("#script_path", Input).value = path

        self.app.push_screen(PathPicker(self.cwd), picked)

    @work(thread=True, group="launch")
    def _submit(self, request: JobRequest) -> None:
        try:
            self.post_message(JobSubmitted(dashboard(self.app).client.submit_job(request.submission())))
        except AdminError as e:
            self.post_message(JobRejected(e.message))

    def on_job_submitted(self, message: JobSubmitted) -> None:
        self.dismiss(message.job)

    def on_job_rejected(self, message: JobRejected) -> None:
        self.query_one("#launch", Button).disabled = False
        if message.error.startswith(FILTER_REFUSED):  # e.g. a misspelt dimension: by the field
            self.show_errors({"filter": message.error.removeprefix(FILTER_REFUSED)})
        else:
            self.show_errors({"server": f"the server refused the job: {message.error}"})
