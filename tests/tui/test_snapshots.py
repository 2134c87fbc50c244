"""Snapshots of every screen at 80x24 and of the overview on a large terminal.

The fake client's data is fixed (no clock), so the SVGs are stable. After a
deliberate change of the look: `pytest tests/tui/test_snapshots.py --snapshot-update`
and review the SVGs in the diff.
"""

from __future__ import annotations

import pytest

from tests.tui.conftest import dashboard, settle
from tests.tui.fakeclient import FakeClient


def keys_then_settle(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
    return run_before


SCREENS = {
    "overview": (),
    "partitions": ("p",),
    "jobs": ("j",),
    "job_output": ("j", "down", "down", "down", "down", "enter"),
    "job_log": ("j", "down", "down", "down", "down", "enter", "t"),
    "launch_form": ("j", "n"),
    "log": ("l",),
    "debug": ("d",),
    "help": ("question_mark",),
}


@pytest.mark.parametrize("name", SCREENS)
def test_screen_80x24(snap_compare, name):
    assert snap_compare(dashboard(FakeClient()), terminal_size=(80, 24),
                        run_before=keys_then_settle(*SCREENS[name]))


def test_overview_large(snap_compare):
    assert snap_compare(dashboard(FakeClient()), terminal_size=(140, 45),
                        run_before=keys_then_settle())


def test_partitions_large(snap_compare):
    assert snap_compare(dashboard(FakeClient()), terminal_size=(140, 45),
                        run_before=keys_then_settle("p"))


def test_overview_with_problems(snap_compare):
    fake = FakeClient()
    fake.stats_data["health"] = {"ok": False, "problems": [
        "disk low: 0.9 GB free (the watermark is 5.0 GB): submissions get 507",
        "export failing: S3 PutObject: 503 Slow Down"]}
    assert snap_compare(dashboard(fake), terminal_size=(80, 24), run_before=keys_then_settle())


def test_disconnected(snap_compare):
    fake = FakeClient()
    fake.down = True
    assert snap_compare(dashboard(fake), terminal_size=(80, 24), run_before=keys_then_settle())
