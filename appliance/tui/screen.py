"""What every dashboard screen shares: the health banner on top, the key bindings below."""

from __future__ import annotations

from typing import Any, Protocol, cast

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from appliance.admin.client import AdminClient
from appliance.tui.banner import HealthBanner
from appliance.tui.feed import Update, Wants
from appliance.tui.messages import Polled


class Dashboard(Protocol):
    """What the screens use of the app they run in (a `DashboardApp`)."""

    client: AdminClient  # or a fake with its methods

    def poll(self, partitions: bool = False) -> None: ...
    def serving(self) -> str: ...


def dashboard(app: App[Any]) -> Dashboard:
    """`app` as the screens use it."""
    # the screens run in a DashboardApp (the TUI tests drive one too), which has all of it
    return cast(Dashboard, app)


class DashboardScreen(Screen[None]):
    """A screen fed by the app's poller: subclasses compose `body()` and implement `show()`."""

    WANTS = Wants()  # what this screen needs polled besides stats

    def wants(self) -> Wants:
        """What the next poll should fetch for this screen."""
        return self.WANTS

    def compose(self) -> ComposeResult:
        yield HealthBanner(getattr(self.app, "target", ""), getattr(self.app, "server_url", ""),
                           id="banner")
        yield from self.body()
        yield Footer(compact=True)

    def body(self) -> ComposeResult:
        """The screen's own widgets, between the banner and the footer."""
        yield from ()

    def on_polled(self, message: Polled) -> None:
        self.query_one(HealthBanner).show(message.update)
        self.show(message.update)

    def on_screen_resume(self) -> None:
        latest = getattr(self.app, "latest", None)
        if latest is not None:
            self.post_message(Polled(latest))

    def show(self, update: Update) -> None:
        """Redraw from a poll's results (fields not polled for this screen are None)."""
