"""A one-line horizontal gauge with an optional mark (the disk watermark)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

LABEL_WIDTH = 7


class Gauge(Widget):
    """`label [████░░│░░] detail`: fill is `value / total`; `mark` draws a `│` at that value.

    The fill turns yellow within `warn` of the mark and red beyond it.
    """

    DEFAULT_CSS = """
    Gauge { height: 1; }
    """

    value: reactive[float] = reactive(0.0)
    total: reactive[float] = reactive(1.0)
    mark: reactive[float | None] = reactive(None)
    detail: reactive[str] = reactive("")

    def __init__(self, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label

    def set(self, value: float, total: float, detail: str, mark: float | None = None) -> None:
        """Update everything at once (one repaint)."""
        self.set_reactive(Gauge.value, value)
        self.set_reactive(Gauge.total, max(total, 1.0))
        self.set_reactive(Gauge.mark, mark)
        self.detail = detail
        self.refresh()

    def level(self) -> str:
        """'ok', 'warn' (within 10% of the total below the mark) or 'bad' (past the mark)."""
        if self.mark is None:
            return "ok"
        if self.value >= self.mark:
            return "bad"
        return "warn" if self.mark - self.value < 0.1 * self.total else "ok"

    def render(self) -> Text:
        width = max(4, self.size.width - LABEL_WIDTH - len(self.detail) - 2)
        filled = round(min(1.0, self.value / self.total) * width)
        cells = ["█"] * filled + ["░"] * (width - filled)
        if self.mark is not None:
            at = min(width - 1, round(self.mark / self.total * width))
            cells[at] = "┃"
        colour = {"ok": "green", "warn": "yellow", "bad": "red"}[self.level()]
        text = Text(self.label.ljust(LABEL_WIDTH))
        text.append("".join(cells), style=colour)
        text.append(f" {self.detail}")
        return text
