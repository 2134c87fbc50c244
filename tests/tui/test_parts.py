"""The dashboard's plain-Python parts: the feed's rate series, output parsing, the key docs."""

from __future__ import annotations

from pathlib import Path

from appliance.tui.feed import Feed, Wants
from appliance.tui.help import KEYS
from appliance.tui.jobrow import JOB_COLUMNS, MIN_NAME, job_cells, job_heading, name_room
from appliance.tui.jobview import column_heading
from appliance.tui.tabular import TableReader
from tests.tui.fakeclient import FakeClient, job, stats_snapshot

ROOT = Path(__file__).parents[2]


def test_feed_adds_a_point_per_poll_and_reseeds_after_a_restart():
    fake = FakeClient()
    feed = Feed(fake)
    first = feed.poll(Wants())
    assert len(first.series.requests) == 119 and fake.calls.count("history") == 1
    fake.stats_data = stats_snapshot(uptime=7_387.0, requests=12_445)  # +100 in 2 s
    second = feed.poll(Wants(jobs=True))
    assert second.series.requests[-1] == 50.0
    assert second.series.bytes[-1] == 50.0 * 10_500
    assert len(second.jobs) == 5 and second.partitions is None and second.logs is None
    fake.stats_data = stats_snapshot(uptime=3.0, requests=10)  # uptime went back: restarted
    feed.poll(Wants())
    assert fake.calls.count("history") == 2


def test_feed_reports_errors_instead_of_raising():
    fake = FakeClient()
    fake.down = True
    update = Feed(fake).poll(Wants(jobs=True))
    assert not update.connected and update.error == "connection refused" and update.stats is None


def test_table_reader_joins_lines_cut_by_pages_and_reads_csv_quotes():
    reader = TableReader()
    assert reader.feed('a,"x, y"\nb,') == [["a", "x, y"]]
    assert reader.feed('2\n') == [["b", "2"]]
    assert reader.feed("c,3", eof=True) == [["c", "3"]]
    tsv = TableReader()
    assert tsv.feed('"quoted"\t1\nlast\t2', eof=True) == [['"quoted"', "1"], ["last", "2"]]
    assert tsv.width == 2


def test_every_key_is_documented():
    for doc in (ROOT / "docs" / "tui.md", ROOT / "README.md"):
        text = doc.read_text()
        for key, where, what in KEYS:
            assert f"| `{key}` | {where} | {what} |" in text, (doc.name, key)


def test_a_finished_job_shows_its_records_per_source():
    job = {"id": "j1", "name": "count.py", "state": "succeeded", "progress": {},
           "summary": {"sources": {"s3:vm-bbbbbbbbbbbbbbbb": 38, "store": 35, "spool": 10}}}
    heading = job_heading(job).plain
    assert "records read: spool 10, store 35, s3 vm-bbbbbbbbbbbbbbbb 38" in heading
    assert "records read" not in job_heading(dict(job, summary=None)).plain


def test_a_job_with_a_warning_shows_it_in_its_row_and_heading():
    job = {"id": "j1", "name": "count.py", "state": "succeeded", "progress": {},
           "warning": "the job read no input records: the filter selected no partition"}
    assert job_cells(job)[JOB_COLUMNS.index("state")].plain == "succeeded !"
    assert "\nwarning: the job read no input records" in job_heading(job).plain
    plain = dict(job, warning=None)
    assert job_cells(plain)[JOB_COLUMNS.index("state")].plain == "succeeded"
    assert "warning" not in job_heading(plain).plain


def test_names_get_the_room_the_other_columns_leave():
    jobs = [job("j-0001", "n" * 60, "timed_out", done=3, total=8)]
    rows = [job_cells(j) for j in jobs]
    # id 6, state 9 ("timed out"), progress 12, records 7, UTC 8, took 6: each + 2 padding
    others = sum(w + 2 for w in (6, 9, 12, len("records"), 8, len("29.0 s")))
    assert name_room(rows, 200) == 200 - others - 2
    assert name_room(rows, 40) == MIN_NAME  # too narrow: the table scrolls instead
    name = job_cells(jobs[0], 20)[JOB_COLUMNS.index("name")]
    assert name.plain == "n" * 19 + "…"
    assert job_cells(jobs[0], 60)[1].plain == "n" * 60  # what fits is whole


def test_output_columns_are_key_and_values():
    assert [column_heading(i, 2) for i in range(2)] == ["key", "value"]
    assert [column_heading(i, 3) for i in range(3)] == ["key", "value 1", "value 2"]
