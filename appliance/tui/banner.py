"""The line at the top of every screen: connection, node, health problems."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from appliance.tui.feed import Update
from appliance.units import human_seconds


class HealthBanner(Static):
    """Green when connected and healthy; red with the problems, or with why it cannot connect."""

    def __init__(self, target: str = "", server_url: str = "", **kwargs: Any) -> None:
        super().__init__("connecting…", **kwargs)
        self.target = target
        self.server_url = server_url  # shown when the dashboard runs inside the server

    def show(self, update: Update) -> None:
        """Redraw from a poll's results."""
        self.set_classes("")
        if not update.connected:
            self.add_class("-bad")
            where = f" from {self.target}" if self.target else ""
            self.update(Text(f"✖ disconnected{where}: {update.error} — retrying"))
            return
        if update.stats is None:
            self.add_class("-bad")
            self.update(Text(f"✖ admin API error: {update.error}"))
            return
        stats = update.stats
        node = stats["node_id"]
        if stats["node_label"]:
            node = f"{stats['node_label']} ({node})"
        who = (f"{node} · appliance {stats['version']} · "
               f"up {human_seconds(stats['uptime_seconds'])}")
        if self.server_url:
            who += f" · {self.server_url}"
        problems = stats["health"]["problems"]
        if problems:
            self.add_class("-bad")
            lines = [f"▲ {who} · {len(problems)} problem{'s' if len(problems) > 1 else ''}"]
            lines += [f"  • {p}" for p in problems]
            self.update(Text("\n".join(lines)))
        else:
            self.add_class("-ok")
            self.update(Text(f"● {who} · healthy"))
