"""The dashboard driven by the Pilot against the fake admin client."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, RichLog, Static, Tree

from appliance.tui import DashboardApp, jobview
from appliance.tui.banner import HealthBanner
from appliance.tui.jobview import JobScreen
from appliance.tui.launch import LaunchScreen
from tests.tui.conftest import dashboard, screen_text, settle
from tests.tui.fakeclient import T0, debug_ping, job

pytestmark = pytest.mark.asyncio

SIZE = (80, 24)


def text_of(widget) -> str:
    return str(widget.render())


async def test_overview_shows_the_numbers(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert "healthy" in text_of(screen.query_one(HealthBanner))
        assert "12,345 requests" in text_of(screen.query_one("#statuses", Static))
        assert "200 12,279" in text_of(screen.query_one("#statuses", Static))
        assert "507 22" in text_of(screen.query_one("#statuses", Static))
        assert "p50 1.8 ms" in text_of(screen.query_one("#latency", Static))
        assert "p99 23.1 ms" in text_of(screen.query_one("#latency", Static))
        assert "42.0/s" in text_of(screen.query_one("#req-rate", Static))
        assert "50 invalid" in text_of(screen.query_one("#conv-text", Static))
        # unknown_revision records: the way to convert them is named
        assert "specs add, then reconvert" in text_of(screen.query_one("#conv-text", Static))
        assert "backlog 4 files" in text_of(screen.query_one("#export-text", Static))
        assert "1 running" in text_of(screen.query_one("#jobs-text", Static))
        # The sparkline was seeded from /v1/history: one rate per pair of samples.
        assert len(screen.query_one("#req-spark").data) == 119


async def test_health_problems_turn_the_banner_red(fake):
    fake.stats_data["health"] = {"ok": False, "problems": ["disk low: 0.9 GB free",
                                                           "export failing: [Errno 111]"]}
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = app.screen.query_one(HealthBanner)
        assert banner.has_class("-bad")
        assert "2 problems" in text_of(banner)
        assert "disk low: 0.9 GB free" in text_of(banner)
        assert "export failing: [Errno 111]" in text_of(banner)  # brackets are no markup


async def test_the_banner_names_the_node_by_label_and_id(fake):
    fake.stats_data.update(node_id="2j7kq4mxw3ybz5ta", node_label="vm")
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "vm (2j7kq4mxw3ybz5ta) · appliance 0.1.0" in text_of(
            app.screen.query_one(HealthBanner))


async def test_disconnect_shows_it_and_reconnects(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.down = True
        await settle(pilot)
        banner = app.screen.query_one(HealthBanner)
        assert "disconnected from http://127.0.0.1:8444: connection refused" in text_of(banner)
        assert banner.has_class("-bad")
        await settle(pilot)  # still retrying, still alive
        assert app.is_running
        fake.down = False
        await settle(pilot)
        assert "healthy" in text_of(banner)
        assert fake.calls.count("history") == 2  # graphs reseeded after the reconnect


async def test_partitions_tree_and_ledger(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await settle(pilot)
        tree = app.screen.query_one(Tree)
        labels = [str(node.label) for node in tree.root.children]
        assert labels[0].startswith("local  1,500 records")
        assert labels[1].startswith("exported  9,000 records")
        table = app.screen.query_one("#ledger", DataTable)
        assert table.row_count == 2
        good = table.get_row("20131120")
        bad = table.get_row("20131119")
        assert str(good[1]) == "✔ ok" and good[0].style == ""
        assert str(bad[1]) == "✖ mismatch" and bad[0].style == "bold red"
        notes = text_of(app.screen.query_one("#ledger-notes", Static))
        assert "2013-11-19 ✖ mismatch: converted + invalid (9038)" in notes
        assert "2013-11-20" not in notes


async def test_an_unconfirmed_mismatch_is_shown_as_such_with_its_reason(fake):
    fake.ledger_data["days"][1]["confirmed"] = False  # seen on one refresh only
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await settle(pilot)
        row = app.screen.query_one("#ledger", DataTable).get_row("20131119")
        assert str(row[1]) == "? unconfirmed" and row[0].style == "yellow"
        notes = app.screen.query_one("#ledger-notes", Static)
        assert notes.region.bottom <= SIZE[1] - 1  # on screen, above the footer
        assert ("2013-11-19 ? unconfirmed: converted + invalid (9038) != exported + pending "
                "export (9030) (seen once: may be a stage in motion)") in text_of(notes)


async def test_log_filter_by_level(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await settle(pilot)
        log = app.screen.query_one(RichLog)
        assert len(log.lines) >= 5
        await pilot.press("f", "f")  # info -> warn -> error
        await settle(pilot)
        lines = [line.text for line in log.lines]
        assert lines and all("error" in line for line in lines)
        assert not any("listening on" in line for line in lines)


async def test_cancel_a_running_job(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert str(table.get_row("j-0005")[2]) == "running"
        await pilot.press("c")
        await settle(pilot, poll=False)
        assert fake.calls.count("cancel_job") == 1
        assert str(table.get_row("j-0005")[2]) == "cancelled"
        await pilot.press("down", "down", "c")  # j-0003 has failed: nothing to cancel
        await settle(pilot, poll=False)
        assert fake.calls.count("cancel_job") == 1
        assert [n.message for n in app._notifications][-1] == (
            "job j-0003 already finished (failed): nothing to cancel")


async def test_the_selection_follows_the_chosen_job_when_new_jobs_arrive(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        await pilot.press("down", "down")
        assert app.screen.selected() == "j-0003"
        for n in (6, 7):
            fake.jobs_data.insert(0, job(f"j-{n:04d}", "new.py", "running", submitted=T0 + 900))
        await settle(pilot)
        assert app.screen.query_one(DataTable).cursor_row == 4
        assert app.screen.selected() == "j-0003"
        await pilot.press("c")  # j-0003 has failed: nothing is cancelled, least of all j-0007
        await settle(pilot, poll=False)
        assert "cancel_job" not in fake.calls


async def test_the_jobs_table_fits_80_columns_and_uses_more(fake):
    fake.jobs_data[0]["name"] = "a_job_script_with_a_name_far_longer_than_80_columns_allow.py"
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width  # no scrolling
        name = str(table.get_row("j-0005")[1])
        assert name.startswith("a_job_script") and name.endswith("…")
        assert str(table.get_row("j-0004")[1]) == "extract.py"  # short names are whole
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        assert str(table.get_row("j-0005")[1]) == fake.jobs_data[0]["name"]



async def test_a_launched_job_becomes_the_selection(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.py").write_text("def map(key, dims, value, context):\n    pass\n")
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        await pilot.press("down", "down")  # j-0003 chosen, then a job launched
        await pilot.press("n")
        await pilot.pause()
        await fill(pilot, app.screen, script_path="job.py")
        await pilot.press("escape")  # from the new job's view back to the list
        await settle(pilot)
        assert app.screen.selected() == "j-0006"

async def test_a_cell_that_grows_widens_its_column(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        fake.jobs_data[0]["progress"].update(records=123_456_789, files_done=1234,
                                             files_total=5678)
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        widths = {str(c.label): c.get_render_width(table) - 2 for c in table.columns.values()}
        assert widths["records"] >= len("123,456,789")
        assert widths["progress"] >= len("█░░░░░░░ 1234/5678")


async def open_form(pilot) -> LaunchScreen:
    await pilot.press("j")
    await settle(pilot)
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(pilot.app.screen, LaunchScreen)
    return pilot.app.screen


async def fill(pilot, form: LaunchScreen, **values: str) -> None:
    for name, value in values.items():
        form.query_one(f"#{name}", Input).value = value
    await pilot.press("ctrl+s")
    await settle(pilot, poll=False)


def errors(form: LaunchScreen) -> dict[str, str]:
    return {label.id.removesuffix("-error"): text_of(label)
            for label in form.query(".form-error") if label.display}


async def test_form_validation_errors(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "bad.json").write_text('{"version": 1,')
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        await fill(pilot, form, script_path="", mappers="0", reducers="x")
        assert errors(form) == {
            "script_path": "give a script path or paste a script",
            "mappers": "mappers must be a positive whole number",
            "reducers": "reducers must be a positive whole number"}
        await fill(pilot, form, script_path="missing.py", mappers="2", reducers="1",
                   filter="{not json")
        assert errors(form)["script_path"] == "no such file: missing.py"
        assert errors(form)["filter"].startswith("bad JSON in the filter: Expecting property name")
        await fill(pilot, form, script_path="binary.py", filter="bad.json")
        assert errors(form)["script_path"].startswith("cannot read binary.py")
        assert errors(form)["filter"].startswith("bad JSON in bad.json")
        await fill(pilot, form, script_path=".", filter="[1]")
        assert errors(form) == {"script_path": ". is a directory",
                                "filter": "the filter must be a JSON object"}
        assert fake.submitted == [] and "submit_job" not in fake.calls


async def test_the_servers_refusal_is_shown_in_the_form(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.py").write_text("def map(k, d, v, c):\n    c.write(k, 1)\n")
    fake.reject_with = "mappers must be an integer >= 1, not 0"
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        await fill(pilot, form, script_path="job.py", filter='{"colour": "red"}')
        assert errors(form) == {
            "server": "the server refused the job: mappers must be an integer >= 1, not 0"}
        assert app.screen is form  # still open, to fix and retry
        assert not form.query_one("#launch").disabled


async def test_a_refused_filter_is_shown_beside_the_filter(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "job.py").write_text("def map(k, d, v, c):\n    c.write(k, 1)\n")
    why = ("no dimension named 'appUpdateChanel' in the schema (its dimensions: telemetry: "
           "reason, appName, appUpdateChannel, appVersion, appBuildID, submission_date)")
    fake.reject_with = f"filter: {why}"
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        await fill(pilot, form, script_path="job.py", filter='{"dimensions": []}')
        assert errors(form) == {"filter": why}
        assert app.screen is form and not form.query_one("#launch").disabled


async def test_launch_from_the_form_then_see_the_output(fake, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = "def map(key, dims, value, context):\n    context.write(dims[0], 1)\n"
    (tmp_path / "by_reason.py").write_text(script)
    filters = Path(__file__).parents[2] / "examples" / "jobs" / "filters" / "all.json"
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        form = await open_form(pilot)
        form.query_one("#dedupe").value = True
        form.query_one("#runner").value = "dask"
        await fill(pilot, form, script_path="by_reason.py", filter=str(filters),
                   mappers="3", reducers="2", scheduler="tcp://10.0.0.5:8786")
        assert fake.submitted == [{"script": script, "name": "by_reason.py",
                                   "filter": {"version": 1, "dimensions": []}, "mappers": 3,
                                   "reducers": 2, "dedupe": True,
                                   "runner": "dask", "scheduler": "tcp://10.0.0.5:8786"}]
        assert isinstance(app.screen, JobScreen) and app.screen.job_id == "j-0006"
        await settle(pilot)
        assert "queued" in text_of(app.screen.query_one("#job-heading", Static))
        fake.finish("j-0006", "idle-daily\t12\nsaved-session\t30\n")
        await settle(pilot)
        assert "succeeded" in text_of(app.screen.query_one("#job-heading", Static))
        table = app.screen.query_one("#output-table", DataTable)
        assert [list(map(str, table.get_row_at(i))) for i in range(table.row_count)] == [
            ["idle-daily", "12"], ["saved-session", "30"]]
        await pilot.press("escape")
        assert not isinstance(app.screen, JobScreen)


async def test_output_is_paged_by_offsets(fake, monkeypatch):
    monkeypatch.setattr(jobview, "PAGE_BYTES", 10)  # "Darwin\t9\nL" then "inux\t9\nWIN"...
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        await pilot.press("down", "down", "down", "down", "enter")  # the oldest: j-0001
        await settle(pilot)
        assert app.screen.job_id == "j-0001"
        table = app.screen.query_one("#output-table", DataTable)
        assert table.row_count == 1  # "Linux" is cut at the page end and waits for page 2
        await pilot.press("m")
        await settle(pilot, poll=False)
        await pilot.press("m")
        await settle(pilot, poll=False)
        rows = [list(map(str, table.get_row_at(i))) for i in range(table.row_count)]
        assert rows == [["Darwin", "9"], ["Linux", "9"], ["WINNT", "8"]]
        assert "all" in text_of(app.screen.query_one("#output-status", Static))
        assert "reduce done" in "\n".join(app.screen.query_one("#job-log").lines)


async def test_help_lists_the_keys(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        shown = screen_text(app)
        assert "help, job" in shown and "close / back" in shown
        assert "converter, export, jobs" in shown  # wrapped at 80 columns, not cut
        assert app.screen.query_one("#help").border_subtitle == "esc closes"
        await pilot.press("escape")
        assert not app.screen.query("#keys")


async def test_debug_view_lists_newest_first_shows_the_ping_and_filters(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        await settle(pilot)
        table = app.screen.query_one("#debug-pings", DataTable)
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == \
            ["session-1", "session-0", "session-1"]
        detail = str(app.screen.query_one("#debug-text", Static).render())
        assert "doc-3" in detail and '"app.clicks": 3' in detail
        assert "x_telemetry_agent: Glean/71.0.0" in detail
        await pilot.press("down")
        await pilot.pause()
        assert "doc-2" in str(app.screen.query_one("#debug-text", Static).render())
        # A new ping arrives: it is listed first, live.
        fake.debug_data.insert(0, debug_ping(4, "session-0"))
        await settle(pilot)
        assert str(table.get_row_at(0)[0]) == "22:14:20"
        await pilot.press("slash")
        await pilot.press(*"session-0")
        await pilot.pause()
        assert [str(table.get_row_at(i)[1]) for i in range(table.row_count)] == \
            ["session-0", "session-0"]
        assert "debug_pings" in fake.calls


async def test_a_wrapped_log_line_keeps_every_word(fake):
    fake.events[2]["text"] = ("export: k1 failed (503); retrying in 1.0s after 0 invalid, "
                              "3 files in 0 commits")
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await settle(pilot)
        shown = " ".join(line.strip("│ ") for line in screen_text(app).splitlines())
        assert "retrying in 1.0s after 0 invalid, 3 files in 0 commits" in shown


@pytest.mark.parametrize("keys", [(), ("p",), ("j",), ("l",), ("j", "enter"),
                                  ("j", "down", "down", "down", "down", "enter")])
async def test_every_footer_fits_80_columns(fake, keys):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
        assert screen_text(app).splitlines()[SIZE[1] - 1].rstrip().endswith("q Quit")


async def test_job_output_columns_are_key_and_value(fake):
    fake.outputs["j-0002"] = "total\t26\t3\n"
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        for row, headings in ((4, ["key", "value"]), (3, ["key", "value 1", "value 2"])):
            app.screen.query_one(DataTable).move_cursor(row=row)
            await pilot.press("enter")
            await settle(pilot)
            table = app.screen.query_one("#output-table", DataTable)
            assert [str(c.label) for c in table.columns.values()] == headings
            await pilot.press("escape")


async def test_a_header_written_by_setup_reduce_names_the_columns(fake):
    app = dashboard(fake)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await settle(pilot)
        app.screen.query_one(DataTable).move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        fake.finish(app.screen.job_id, "reason,count\r\nidle-daily,12\r\n", header_lines=1)
        await settle(pilot)
        table = app.screen.query_one("#output-table", DataTable)
        assert [str(c.label) for c in table.columns.values()] == ["reason", "count"]
        assert [list(map(str, table.get_row_at(i))) for i in range(table.row_count)] == [
            ["idle-daily", "12"]]


async def test_in_the_server_the_dashboard_shows_its_address_and_certificate(fake):
    app = DashboardApp(fake, target="this server", poll_interval=3600,
                       server_url="https://127.0.0.1:8443", fingerprint="AB:CD:EF")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        banner = text_of(app.screen.query_one(HealthBanner))
        assert "2h 03m · https://127.0.0.1:8443 · healthy" in banner
        assert any("TLS certificate SHA-256 AB:CD:EF" in n.message for n in app._notifications)
        await pilot.press("question_mark")
        await pilot.pause()
        assert text_of(app.screen.query_one("#serving", Static)) == (
            "listening on https://127.0.0.1:8443\nTLS certificate SHA-256 AB:CD:EF")
