"""The debug view: the latest pings that carry a debug id, newest first, live.

The workflow of Mozilla's debug ping viewer on the node: a client developer
sets a debug id (Glean's ``GLEAN_DEBUG_VIEW_TAG`` or ``X-Debug-ID``), sends
pings, and watches them arrive here with their metadata and pretty-printed
document. The list comes from GET /v1/debug/pings (bounded on the server).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DataTable, Input, Static

from appliance.admin.debugpings import describe
from appliance.tui.feed import Update, Wants
from appliance.tui.screen import DashboardScreen


def ping_key(ping: dict[str, Any]) -> str:
    """A row key for a ping: its arrival time and document id."""
    return f"{ping.get('submission_timestamp')} {ping.get('namespace')} {ping.get('doc_id')}"


class DebugScreen(DashboardScreen):
    """A table of the latest debug pings and the highlighted one in full."""

    CSS_PATH = "debugview.tcss"
    AUTO_FOCUS = "#debug-pings"  # not the filter: letter keys switch screens
    WANTS = Wants(debug=True)
    BINDINGS = [Binding("slash", "filter", "Debug id filter", key_display="/")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.debug_id = ""
        self._pings: dict[str, dict[str, Any]] = {}
        self._shown: list[str] = []

    def body(self) -> ComposeResult:
        yield Input(placeholder="debug id (empty: all)", id="debug-id")
        with Horizontal(id="debug-body"):
            table: DataTable[Any] = DataTable(id="debug-pings", cursor_type="row")
            table.border_title = "Debug pings, newest first (UTC)"
            table.add_columns("received", "debug id", "document")
            yield table
            with VerticalScroll(id="debug-detail") as detail:
                detail.border_title = "Ping"
                yield Static("No debug pings yet: send one with an X-Debug-ID header "
                             "(Glean: GLEAN_DEBUG_VIEW_TAG).", id="debug-text")

    def action_filter(self) -> None:
        self.query_one("#debug-id", Input).focus()

    @on(Input.Changed, "#debug-id")
    def filter_changed(self, event: Input.Changed) -> None:
        self.debug_id = event.value.strip()
        self._redraw()

    def show(self, update: Update) -> None:
        if update.debug_pings is None:
            return
        self._pings = {ping_key(p): p for p in update.debug_pings}
        self._redraw()

    def _redraw(self) -> None:
        keys = [k for k, p in self._pings.items()
                if not self.debug_id or p.get("debug_id") == self.debug_id]
        if keys == self._shown:
            return
        table = self.query_one("#debug-pings", DataTable)
        selected = self._shown[table.cursor_row] if 0 <= table.cursor_row < len(self._shown) \
            else None
        table.clear()
        for key in keys:
            ping = self._pings[key]
            stamp = str(ping.get("submission_timestamp", ""))
            table.add_row(stamp[11:19] or "-", ping.get("debug_id", ""),
                          f"{ping.get('namespace')}/{ping.get('doc_type')}", key=key)
        self._shown = keys
        if selected in keys:
            table.move_cursor(row=keys.index(selected))
        self._detail(keys[table.cursor_row] if keys else None)

    @on(DataTable.RowHighlighted, "#debug-pings")
    def highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.row_key.value if event.row_key else None)

    def _detail(self, key: str | None) -> None:
        ping = self._pings.get(key) if key else None
        text = self.query_one("#debug-text", Static)
        if ping is None:
            text.update("No debug pings" + (f" with debug id {self.debug_id!r}"
                                            if self.debug_id else "") + " yet.")
        else:
            text.update(Text(describe(ping)))  # documents are not markup
