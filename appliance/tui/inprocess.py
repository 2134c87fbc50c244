"""`appliance serve --tui`: the dashboard in the server's own process, on one asyncio loop.

Twisted runs on asyncio (AsyncioSelectorReactor), so the Textual app runs on the
same loop with `run_async()`. The dashboard still talks to the server only through
its admin API (an AdminClient on this data dir), exactly as `appliance tui` does.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet.interfaces import IReactorCore
from twisted.logger import Logger

from appliance.config import Config

if TYPE_CHECKING:  # only for the annotation: Textual (~0.5 s) loads for `serve --tui` only
    from appliance.tui.app import DashboardApp

log = Logger()


class Listening(Protocol):
    """Where the server listens (`appliance.server.Listening`), as the dashboard shows it."""

    @property
    def url(self) -> str: ...

    @property
    def fingerprint(self) -> str | None: ...


def install_reactor() -> None:
    """Install the asyncio reactor; must run before anything imports twisted.internet.reactor."""
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("a reactor is already installed: install_reactor() must come first")
    from twisted.internet import asyncioreactor  # here: importing it must not install a reactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)


def start_dashboard(reactor: IReactorCore, config: Config,
                    listening: Listening) -> DashboardApp:
    """Run the dashboard on the reactor's loop; quitting it stops the server (which drains).

    `listening` (the server's Listening) puts the public URL and the TLS fingerprint in
    the dashboard: what `serve` prints goes under the dashboard's screen until it quits.

    A SIGTERM that stops the reactor first closes the dashboard, so the terminal is
    restored before the server drains.
    """
    # Textual (~0.5 s to import) loads only for `serve --tui`.
    from appliance.admin.client import AdminClient
    from appliance.tui.app import DashboardApp

    app = DashboardApp(AdminClient.from_config(config), target="this server",
                       server_url=listening.url, fingerprint=listening.fingerprint or "")
    running = asyncio.ensure_future(app.run_async())

    def ended(future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            log.error("the dashboard failed: {error!r}", error=future.exception())
        if reactor.running:
            reactor.stop()

    running.add_done_callback(ended)
    reactor.addSystemEventTrigger("before", "shutdown", app.exit)
    return app
