"""Runner progress: typed reports, throttled between phase changes, relabelled for --dedupe,
and written to a job's progress.json with the keys it always had."""

from __future__ import annotations

import json

from appliance.jobs.jobdir import JobDir
from appliance.jobs.worker import progress_writer
from appliance.mr import progress
from appliance.mr.progress import Progress, relabelled, throttle


def test_throttle_passes_phase_changes_and_at_most_one_report_per_interval(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    seen: list[tuple[str, int]] = []
    report = throttle(lambda p: seen.append((p.phase, p.records)), interval=1.0)
    for records in (1, 2, 3):
        report(Progress("map", files_total=1, records=records))
    report(Progress("reduce", files_total=1, records=3))
    now[0] += 1.5
    report(Progress("reduce", files_total=1, records=4))
    assert seen == [("map", 1), ("reduce", 3), ("reduce", 4)]


def test_the_first_pass_of_dedupe_reports_as_its_own_phase():
    seen: list[Progress] = []
    first_pass = relabelled(seen.append, "dedupe")
    assert first_pass is not None and relabelled(None, "dedupe") is None
    first_pass(Progress("map", files_total=2, files_done=1))
    assert seen == [Progress("dedupe", files_total=2, files_done=1)]


def test_progress_json_keeps_its_keys(tmp_path):
    jd = JobDir(tmp_path)
    progress_writer(jd, bytes_total=900)(Progress("reduce", files_total=3, files_done=3,
                                                  reducers_done=1, reducers_total=2))
    assert json.loads(jd.progress.read_text()) == {
        "phase": "reduce", "files_total": 3, "files_done": 3, "records": 0, "bytes": 0,
        "data_bytes": 0, "errors": 0, "reducers_done": 1, "reducers_total": 2,
        "bytes_total": 900}
