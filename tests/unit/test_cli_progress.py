"""The progress display of `appliance job run`: a bar on a terminal, lines elsewhere."""

from __future__ import annotations

import io

from appliance.cli.progress import job_progress
from appliance.mr.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def feed(show) -> None:
    show(Progress("map", files_total=3))
    show(Progress("map", files_total=3, files_done=3, records=1234, bytes=3000))
    show(Progress("reduce", files_total=3, files_done=3, records=1234, bytes=3000,
                  reducers_done=1, reducers_total=2))
    show(Progress("done", files_total=3, files_done=3, records=1234, bytes=3000))


def test_a_terminal_gets_a_bar_per_phase(monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    err = Terminal()
    with job_progress(err, bytes_total=3000) as show:
        feed(show)
    text = err.getvalue()
    assert "map" in text and "3/3 files, 1,234 records" in text
    assert "reduce" in text and "reducers 1/2" in text
    assert "━" in text  # a drawn bar, not plain lines


def test_a_pipe_gets_one_line_per_phase():
    err = io.StringIO()
    with job_progress(err, bytes_total=3000) as show:
        feed(show)
    lines = err.getvalue().splitlines()
    assert lines[0] == "map: 0/3 files, 0 records, 0 bytes"
    assert [line.split(":")[0] for line in lines] == ["map", "reduce", "done"]
    assert "reducers 1/2" in lines[1]
