"""The dashboard against a real `appliance serve`: attached through the admin API, and
in-process (`serve --tui`) in a pseudo-terminal."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from appliance.tui import DashboardApp
from appliance.tui.jobview import JobScreen
from tests import pings
from tests.integration.serverproc import TEST_ENV, ServerProcess, post
from tests.integration.test_admin import FAST
from tests.tui.conftest import settle

REPO = Path(__file__).parents[2]
TIMEOUT = 60.0


def serve(tmp_path) -> ServerProcess:
    data_dir = tmp_path / "data"
    pings.write_spec(data_dir / "histograms")
    server = ServerProcess(data_dir, args=["--http"], env=FAST).start()
    for i in range(5):
        assert post(server, f"/submit/telemetry/tui-{i}/{pings.DIMS}", pings.body(i)).status == 200
    return server


async def until(pilot, check, what: str):
    """Poll the server through the dashboard until `check()` holds (the job runs elsewhere)."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
        await settle(pilot)


@pytest.mark.asyncio
async def test_attached_overview_and_a_job_from_the_form(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    server = serve(tmp_path)
    try:
        app = DashboardApp(server.admin(), target="test server", poll_interval=3600)
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            statuses = str(app.screen.query_one("#statuses", Static).render())
            assert "5 requests: 200 5" in statuses

            await pilot.press("j")
            await settle(pilot)
            await pilot.press("n")
            await pilot.pause()
            form = app.screen
            form.query_one("#script_path", Input).value = "examples/jobs/count.py"
            # a misspelt dimension: the server refuses it, the form says why by the filter
            form.query_one("#filter", Input).value = (
                '{"version": 1, "dimensions": [{"field_name": "appUpdateChanel", '
                '"allowed_values": ["beta"]}]}')
            await pilot.press("ctrl+s")
            error = form.query_one("#filter-error", Static)
            await until(pilot, lambda: error.display, "the refusal under the filter")
            assert str(error.render()).startswith("no dimension named 'appUpdateChanel'")
            # a filter that selects nothing: the job succeeds with a warning
            form.query_one("#filter", Input).value = (
                '{"version": 1, "dimensions": [{"field_name": "submission_date", '
                '"allowed_values": ["20991231"]}]}')
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, JobScreen), "the job view")
            heading = app.screen.query_one("#job-heading", Static)
            await until(pilot, lambda: "warning: the job read no input records"
                        in str(heading.render()), "the warning in the job's heading")
            await pilot.press("escape")
            await settle(pilot)
            await pilot.press("n")
            await pilot.pause()
            app.screen.query_one("#script_path", Input).value = "examples/jobs/count.py"
            app.screen.query_one("#filter", Input).value = "examples/jobs/filters/all.json"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, JobScreen), "the job view")
            table = app.screen.query_one("#output-table", DataTable)
            await until(pilot, lambda: table.row_count > 0, "the job's output")
            assert [str(c) for c in table.get_row_at(0)] == ["records", "5"]
            heading = str(app.screen.query_one("#job-heading", Static).render())
            assert "count.py" in heading and "succeeded" in heading
            assert "warning" not in heading
    finally:
        server.stop()


class Terminal:
    """A command on a 80x24 pseudo-terminal: read what it draws, type keys."""

    def __init__(self, args: list[str]):
        self.primary, secondary = pty.openpty()
        fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
        env.update(TEST_ENV, TERM="xterm-256color")
        self.proc = subprocess.Popen([sys.executable, "-m", "appliance", *args], stdin=secondary,
                                     stdout=secondary, stderr=secondary, env=env,
                                     start_new_session=True)
        os.close(secondary)
        self.screen = b""

    def read_until(self, marker: bytes, times: int = 1) -> None:
        """Read until `marker` has been drawn `times` times."""
        deadline = time.monotonic() + TIMEOUT
        while self.screen.count(marker) < times:
            assert time.monotonic() < deadline, \
                f"no {marker!r} on the terminal: {self.screen[-2000:]!r}"
            if select.select([self.primary], [], [], 1.0)[0]:
                try:
                    self.screen += os.read(self.primary, 65536)
                except OSError:  # the child closed the terminal
                    break

    def quit(self) -> int:
        """Press q; the exit code. What the app draws meanwhile is read: a full terminal
        buffer would block its writes, and then its input, for good."""
        try:
            os.write(self.primary, b"q")
            deadline = time.monotonic() + TIMEOUT
            while self.proc.poll() is None and time.monotonic() < deadline:
                if select.select([self.primary], [], [], 0.2)[0]:
                    try:
                        self.screen += os.read(self.primary, 65536)
                    except OSError:  # the child closed the terminal
                        break
            return self.proc.wait(timeout=TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            os.close(self.primary)


def test_appliance_tui_attaches_and_quits(tmp_path):
    server = serve(tmp_path)
    try:
        terminal = Terminal(["tui", "--data-dir", str(server.data_dir)])
        terminal.read_until(b"healthy")  # found admin.url and admin.token in the data dir
        assert terminal.quit() == 0
        assert server.proc.poll() is None  # quitting the dashboard leaves the server running
    finally:
        server.stop()


def test_serve_tui_runs_the_dashboard_in_the_server_process(tmp_path):
    data_dir = tmp_path / "data"
    terminal = Terminal(["serve", "--tui", "--http", "--listen", "127.0.0.1:0",
                         "--data-dir", str(data_dir)])
    terminal.read_until(b"healthy")  # the banner, drawn from this server's own admin API
    # Where it listens: printed before the dashboard starts, then in its banner too
    # (a frame may draw the banner's parts apart: read until both are there).
    terminal.read_until(b"http://127.0.0.1:", times=2)
    assert terminal.quit() == 0
    logged = (data_dir / "logs" / "appliance.log").read_text()
    assert "admin API on" in logged and "stopped" in logged
    assert b"admin API on" not in terminal.screen  # the log stayed off the terminal
