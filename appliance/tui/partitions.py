"""Stored partitions (local and exported) as a tree, and the reconciliation ledger by day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Static, Tree
from textual.widgets.tree import TreeNode

from appliance.tui.feed import Update, Wants
from appliance.tui.screen import DashboardScreen, dashboard
from appliance.units import human_bytes, human_count


@dataclass
class Branch:
    """One level of partition keys with the totals of everything below it."""

    files: int = 0
    records: int = 0
    bytes: int = 0
    children: dict[str, Branch] = field(default_factory=dict)

    def add(self, parts: list[str], entry: dict[str, Any]) -> None:
        self.files += entry.get("files", 0)
        self.records += entry.get("records", 0)
        self.bytes += entry.get("bytes", 0)
        if parts:
            self.children.setdefault(parts[0], Branch()).add(parts[1:], entry)

    @classmethod
    def of(cls, entries: list[dict[str, Any]]) -> Branch:
        """The tree of `/v1/partitions` entries, split on '/' in their keys."""
        root = cls()
        for entry in entries:
            root.add([p for p in entry["key"].split("/") if p], entry)
        return root

    def label(self, name: str) -> Text:
        text = Text(name, style="bold")
        text.append(f"  {human_count(self.records)} records · {human_bytes(self.bytes)}"
                    f" · {human_count(self.files)} files", style="dim")
        return text


OPEN_LEVELS = 4  # side / namespace / doc type / app: what a first look needs

LEDGER_COLUMNS = ("day", "state", "accepted", "converted", "invalid", "exported",
                  "to convert", "to export")
UNCONFIRMED = "seen once: may be a stage in motion"


def ledger_state(day: dict[str, Any]) -> tuple[str, str]:
    """(word, style) for a ledger day: reconciled, a mismatch the server has confirmed on two
    refreshes in a row, or one it has seen only once (`confirmed` false)."""
    if day.get("reconciled"):
        return "✔ ok", ""
    if day.get("confirmed", True):
        return "✖ mismatch", "bold red"
    return "? unconfirmed", "yellow"


def ledger_row(day: dict[str, Any]) -> list[Text]:
    """A ledger day as table cells, styled by its state throughout."""
    invalid = sum(day.get("invalid", {}).values())
    date = day["date"]
    word, style = ledger_state(day)
    cells = [f"{date[:4]}-{date[4:6]}-{date[6:]}", word,
             human_count(day.get("accepted")), human_count(day.get("converted")),
             human_count(invalid), human_count(day.get("exported")),
             human_count(day.get("pending_conversion")), human_count(day.get("pending_export"))]
    return [Text(cell, style=style) for cell in cells]


def ledger_notes(days: list[dict[str, Any]]) -> Text:
    """Why each day that does not reconcile does not, one wrapped paragraph per day."""
    text = Text()
    for day in days:
        if day.get("reconciled"):
            continue
        word, style = ledger_state(day)
        date = day["date"]
        if text:
            text.append("\n")
        text.append(f"{date[:4]}-{date[4:6]}-{date[6:]} {word}: ", style=style)
        text.append(day.get("problem") or "does not reconcile")
        if not day.get("confirmed", True):
            text.append(f" ({UNCONFIRMED})", style="dim")
    return text


class PartitionsScreen(DashboardScreen):
    """Left: the partition tree; right (below, when narrow): the ledger."""

    CSS_PATH = "partitions.tcss"
    WANTS = Wants(partitions=True)
    BINDINGS = [Binding("r", "refresh", "Refresh")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shown: tuple[Any, ...] | None = None

    def body(self) -> ComposeResult:
        with Container(id="partitions-body"):
            tree: Tree[None] = Tree("store", id="partition-tree")
            tree.border_title = "Partitions"
            yield tree
            table: DataTable[Any] = DataTable(id="ledger", cursor_type="row", zebra_stripes=True)
            table.border_title = "Ledger (by submission day)"
            with Vertical(id="ledger-box"):
                yield table
                yield Static(id="ledger-notes", markup=False)

    def on_mount(self) -> None:
        self.query_one("#ledger", DataTable).add_columns(*LEDGER_COLUMNS)

    def action_refresh(self) -> None:
        dashboard(self.app).poll(partitions=True)

    def show(self, update: Update) -> None:
        if update.partitions is not None:
            self._show_tree(update.partitions)
        if update.ledger is not None:
            table = self.query_one("#ledger", DataTable)
            cursor = table.cursor_row
            table.clear()
            for day in update.ledger.get("days", []):
                table.add_row(*ledger_row(day), key=day["date"])
            if table.row_count:
                table.move_cursor(row=min(cursor, table.row_count - 1))
            notes = ledger_notes(update.ledger.get("days", []))
            self.query_one("#ledger-notes", Static).update(notes)
            self.query_one("#ledger-notes", Static).display = bool(notes)

    def _show_tree(self, partitions: dict[str, Any]) -> None:
        local, exported = partitions.get("local", []), partitions.get("exported", [])
        shown = (tuple(map(str, local)), tuple(map(str, exported)))
        if shown == self._shown:  # keep the user's expanded nodes when nothing changed
            return
        self._shown = shown
        tree = self.query_one("#partition-tree", Tree)
        expanded = {path for path, node in _walk(tree.root) if node.is_expanded}
        tree.clear()
        tree.root.expand()
        for side, entries in (("local", local), ("exported", exported)):
            branch = Branch.of(entries)
            node = tree.root.add(branch.label(side), expand=True)
            _grow(node, branch, (side,), expanded)


def _grow(node: TreeNode[tuple[str, ...]], branch: Branch, path: tuple[str, ...],
          expanded: set[tuple[str, ...]]) -> None:
    for name, child in sorted(branch.children.items()):
        here = path + (name,)
        if child.children:
            # Expanded: what the user had open, and at first the levels above the partitions.
            opened = here in expanded or (not expanded and len(here) <= OPEN_LEVELS)
            sub = node.add(child.label(name), data=here, expand=opened)
            _grow(sub, child, here, expanded)
        else:
            node.add_leaf(child.label(name), data=here)


def _walk(node: TreeNode[tuple[str, ...]]
          ) -> Iterator[tuple[tuple[str, ...], TreeNode[tuple[str, ...]]]]:
    for child in node.children:
        if child.data is not None:
            yield child.data, child
        yield from _walk(child)
