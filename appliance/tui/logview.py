"""Recent server events, newest at the bottom, filtered by level."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Label, RichLog, Select

from appliance.tui.feed import Update, Wants
from appliance.tui.jobrow import utc_clock
from appliance.tui.screen import DashboardScreen, dashboard

LEVELS = ("debug", "info", "warn", "error", "critical")
LEVEL_STYLES = {"debug": "dim", "info": "", "warn": "yellow", "error": "bold red",
                "critical": "bold white on red"}


def event_line(event: dict[str, Any]) -> Text:
    """`12:00:01 warn  appliance.export  text`, coloured by level."""
    level = event.get("level", "info")
    text = Text(f"{utc_clock(event.get('time'))} ", style="dim")
    text.append(f"{level:<5} ", style=LEVEL_STYLES.get(level, ""))
    text.append(f"{event.get('namespace', '')} ", style="cyan")
    text.append(event.get("text", ""), style=LEVEL_STYLES.get(level, ""))
    return text


class LogScreen(DashboardScreen):
    """The server's last events at the chosen level and above."""

    CSS_PATH = "logview.tcss"
    BINDINGS = [Binding("f", "next_level", "Level filter")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.level = "info"
        self._last: tuple[Any, ...] | None = None  # the newest event shown; newer ones are appended

    def wants(self) -> Wants:
        return Wants(log_level=self.level)

    def body(self) -> ComposeResult:
        with Horizontal(id="log-controls"):
            yield Label("level ≥", id="level-label")
            yield Select([(name, name) for name in LEVELS], value=self.level,
                         allow_blank=False, id="level")
        # min_width=1: wrap at the log's own width (the default 78 is wider than an 80-column
        # terminal leaves, and the part past the edge would be cut off, not wrapped).
        log = RichLog(id="events", wrap=True, max_lines=2000, min_width=1)
        log.border_title = "Server events (UTC)"
        yield log

    def action_next_level(self) -> None:
        select = self.query_one("#level", Select)
        select.value = LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)]

    @on(Select.Changed, "#level")
    def level_changed(self, event: Select.Changed) -> None:
        if event.value != self.level:
            self.level = str(event.value)
            self._last = None
            self.query_one(RichLog).clear()
            dashboard(self.app).poll()

    def show(self, update: Update) -> None:
        if update.logs is None or update.log_level != self.level:
            return  # a poll started before the filter changed
        keys = [(e.get("time"), e.get("namespace"), e.get("text")) for e in update.logs]
        start = keys.index(self._last) + 1 if self._last in keys else 0
        log = self.query_one(RichLog)
        for event in update.logs[start:]:
            log.write(event_line(event))
        if keys:
            self._last = keys[-1]
