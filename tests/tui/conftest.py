"""Fixtures for dashboard tests: a fake admin client and an app that polls only when told."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from appliance.tui import DashboardApp
from tests.tui.fakeclient import FakeClient


@pytest.fixture
def fake() -> FakeClient:
    return FakeClient()


def dashboard(client) -> DashboardApp:
    """An app whose timer never fires during a test: tests call `settle()` to poll."""
    return DashboardApp(client, target="http://127.0.0.1:8444", poll_interval=3600)


async def settle(pilot, poll: bool = True) -> None:
    """Poll now (optionally), wait for every worker, then for the messages they posted."""
    if poll:
        pilot.app.poll()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()  # reads started by what the poll showed
    await pilot.pause()


def screen_text(app) -> str:
    """What the terminal shows now, as plain text (to check nothing is cut)."""
    console = Console(width=app.size.width, file=io.StringIO(), record=True, color_system=None)
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()
