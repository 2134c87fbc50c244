"""The dashboard application: modes for the five screens and one poller feeding them."""

from __future__ import annotations

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker

from appliance.admin.client import AdminClient
from appliance.tui.debugview import DebugScreen
from appliance.tui.feed import Feed, Update, Wants
from appliance.tui.help import HelpScreen
from appliance.tui.jobs import JobsScreen
from appliance.tui.logview import LogScreen
from appliance.tui.messages import Polled
from appliance.tui.overview import OverviewScreen
from appliance.tui.partitions import PartitionsScreen

PARTITIONS_EVERY = 10  # polls between partition/ledger refreshes (they walk the store)


class DashboardApp(App[None]):
    """The operator's dashboard over an AdminClient (or anything with its methods).

    Every `poll_interval` seconds one worker thread fetches what the visible
    screens need; a tick that finds the previous poll still running is skipped,
    so a slow server gets fewer polls instead of a queue of them.
    """

    CSS_PATH = "dashboard.tcss"
    TITLE = "appliance"
    ENABLE_COMMAND_PALETTE = False  # the footer's room goes to the dashboard's own keys
    MODES = {
        "overview": OverviewScreen,
        "partitions": PartitionsScreen,
        "jobs": JobsScreen,
        "log": LogScreen,
        "debug": DebugScreen,
    }
    DEFAULT_MODE = "overview"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("o,1", "switch_mode('overview')", "Overview"),
        Binding("p,2", "switch_mode('partitions')", "Partitions"),
        Binding("j,3", "switch_mode('jobs')", "Jobs"),
        Binding("l,4", "switch_mode('log')", "Log"),
        # Not in the footer (it would not fit 80 columns); the help lists it.
        Binding("d,5", "switch_mode('debug')", "Debug", show=False),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, client: AdminClient, *, target: str = "", poll_interval: float = 1.0,
                 server_url: str = "", fingerprint: str = ""):
        """`target` names the server in the disconnected banner; `server_url` and
        `fingerprint` (its TLS certificate's SHA-256), when the dashboard runs inside the
        server, are shown in the banner, the help and a notice at start."""
        super().__init__()
        self.client = client  # thread-safe: the poller and action workers share it
        self.target = target
        self.server_url = server_url
        self.fingerprint = fingerprint
        self.poll_interval = poll_interval
        self.feed = Feed(self.client)
        self.latest: Update | None = None
        self._poller: Worker[None] | None = None
        self._ticks = 0
        self._partitions_due = True

    def on_mount(self) -> None:
        self.set_interval(self.poll_interval, self.poll)
        self.poll()
        if self.server_url:
            self.notify(self.serving(), title="appliance serve", timeout=30)

    def serving(self) -> str:
        """Where this server listens and its certificate, for clients to be pointed at."""
        text = f"listening on {self.server_url}"
        if self.fingerprint:
            text += f"\nTLS certificate SHA-256 {self.fingerprint}"
        return text

    def poll(self, partitions: bool = False) -> None:
        """Start a poll now unless one is running (then this tick is dropped: updates coalesce)."""
        self._partitions_due |= partitions
        self._ticks += 1
        if self._ticks % PARTITIONS_EVERY == 0:
            self._partitions_due = True
        if self._poller is not None and self._poller.is_running:
            return
        wants = Wants()
        for screen in self.screen_stack:
            if hasattr(screen, "wants"):
                wants = wants | screen.wants()
        if wants.partitions:
            if not self._partitions_due:
                wants = Wants(wants.jobs, False, wants.log_level, wants.debug)
            self._partitions_due = False
        self._poller = self._fetch(wants)

    @work(thread=True, group="poll")
    def _fetch(self, wants: Wants) -> None:
        self.post_message(Polled(self.feed.poll(wants)))

    def on_polled(self, message: Polled) -> None:
        self.latest = message.update
        for screen in self.screen_stack:
            if hasattr(screen, "wants"):
                screen.post_message(Polled(message.update))

    async def action_switch_mode(self, mode: str) -> None:
        await self.switch_mode(mode)
        self.poll(partitions=mode == "partitions")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
