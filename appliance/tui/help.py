"""The help screen: every key binding, per screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

# (keys, where, what): also the table in docs/tui.md and README's "Dashboard" section.
KEYS = (
    ("o / 1", "everywhere", "Overview: ingest, storage, converter, export, jobs"),
    ("p / 2", "everywhere", "Partitions and the reconciliation ledger"),
    ("j / 3", "everywhere", "Jobs"),
    ("l / 4", "everywhere", "Server log"),
    ("d / 5", "everywhere", "Debug view: the latest pings with a debug id (X-Debug-ID)"),
    ("? / F1", "everywhere", "this help"),
    ("q", "everywhere", "quit (the server keeps running when attached)"),
    ("tab / shift+tab", "everywhere", "move focus; the mouse works too"),
    ("r", "Partitions", "refresh partitions and ledger now"),
    ("n", "Jobs", "launch a job (the form)"),
    ("c", "Jobs, job view", "cancel the selected job"),
    ("enter", "Jobs", "open the job: output table and log"),
    ("m", "job view", "load the next page of output"),
    ("t", "job view", "switch between output and log"),
    ("esc", "job view, form", "back / close"),
    ("ctrl+s", "launch form", "launch"),
    ("ctrl+o", "launch form", "pick the script file"),
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
            table: DataTable = DataTable(id="keys", cursor_type="none", show_cursor=False)
            table.add_columns("key", "where", "what")
            table.add_rows(KEYS)
            yield table
            yield Static("The dashboard polls the admin API once a second. While the server "
                         "cannot be reached the banner says so and it keeps retrying.",
                         classes="hint")
