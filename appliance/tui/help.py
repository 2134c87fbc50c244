"""The help screen: every key binding, per screen."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from appliance.tui.screen import dashboard

# (keys, where, what): also the table in docs/tui.md and README's "Dashboard" section.
KEYS = (
    ("o / 1", "everywhere", "Overview: ingest, storage, converter, export, jobs"),
    ("p / 2", "everywhere", "Partitions and the ledger"),
    ("j / 3, l / 4", "everywhere", "Jobs; the server log"),
    ("d / 5", "everywhere", "Debug view: pings with an X-Debug-ID"),
    ("? / F1", "everywhere", "this help"),
    ("q", "everywhere", "quit (an attached server runs on)"),
    ("tab / shift+tab", "everywhere", "move focus; the mouse works too"),
    ("r", "Partitions", "refresh partitions and ledger now"),
    ("n", "Jobs", "launch a job (the form)"),
    ("c", "Jobs, job view", "cancel the selected job"),
    ("enter", "Jobs", "open the job: output table and log"),
    ("m, t", "job view", "more output; switch output / log"),
    ("esc", "help, job view, form", "close / back"),
    ("ctrl+s, ctrl+o", "launch form", "launch; pick the script file"),
    ("f", "Log", "next level filter (debug, info, warn, error, critical)"),
    ("/", "Debug", "show only one debug id (empty: all)"),
)


class HelpScreen(ModalScreen[None]):
    """A table of KEYS over the current screen; any of escape, q or ? closes it."""

    CSS_PATH = "help.tcss"
    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "Keys"
            box.border_subtitle = "esc closes"
            yield Static(keys_table(), id="keys")
            if getattr(self.app, "server_url", ""):
                yield Static(dashboard(self.app).serving(), id="serving", classes="hint",
                             markup=False)
            yield Static("The dashboard polls the admin API once a second. While the server "
                         "cannot be reached the banner says so and it keeps retrying.",
                         classes="hint")


def keys_table() -> Table:
    """KEYS as a table whose columns wrap rather than cut at any width."""
    table = Table(box=None, padding=(0, 2, 0, 0), header_style="bold", expand=True)
    table.add_column("key", no_wrap=True, style="bold")
    table.add_column("where", ratio=1)
    table.add_column("what", ratio=3)
    for row in KEYS:
        table.add_row(*row)
    return table
