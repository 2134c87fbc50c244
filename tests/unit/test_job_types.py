"""The typed job request and record: their JSON forms are what the API and the job's
directory always carried."""

from __future__ import annotations

import json

import pytest

from appliance.jobs.jobdir import JobDir
from appliance.jobs.record import JobRecord
from appliance.jobs.request import JobRequest, parse_request
from appliance.jobs.states import ACTIVE, FINISHED, JobState
from appliance.tui.jobrow import STATE_STYLES
from tests.tui.fakeclient import FakeClient

SCRIPT = "def map(k, d, v, c): pass\n"


def test_a_submission_leaves_defaults_to_the_server():
    request = JobRequest(script=SCRIPT, name="n.py", mappers=4, timeout=None, runner="dask")
    assert request.submission() == {"script": SCRIPT, "name": "n.py", "mappers": 4,
                                    "runner": "dask"}
    # ...so the server's [jobs] timeout applies, as when the field is left out
    assert parse_request(request.submission(), default_timeout=60).timeout == 60.0


def test_a_stored_request_reads_back_whole(tmp_path):
    request = parse_request({"script": SCRIPT, "name": "c.py", "filter": {"version": 1},
                             "reducers": 3, "dedupe": True, "timeout": 5})
    jd = JobDir(tmp_path / "j-1")
    jd.create(request)
    assert "script" not in json.loads(jd.request.read_text())
    assert jd.read_request() == request


def test_a_record_keeps_its_json_form_and_reads_what_it_wrote():
    record = JobRecord("j-1", "c.py", JobState.TIMED_OUT, submitted_at=1.0,
                       options={"timeout": 5}, error="timed out after 5.0 s")
    obj = json.loads(json.dumps(record.to_json()))
    assert obj == {"id": "j-1", "name": "c.py", "state": "timed_out", "submitted_at": 1.0,
                   "started_at": None, "finished_at": None, "options": {"timeout": 5},
                   "error": "timed out after 5.0 s", "progress": {"phase": "queued"},
                   "summary": None, "output_bytes": None, "warning": None}
    back = JobRecord.from_json(obj | {"added_by_a_newer_server": 1})
    assert back == record and back.state is JobState.TIMED_OUT and back.timeout == 5.0


def test_an_unknown_state_is_an_error_not_a_silent_string():
    with pytest.raises(ValueError):
        JobRecord.from_json({"id": "j-1", "name": "c.py", "state": "paused", "submitted_at": 1})


def test_states_split_into_active_and_finished_and_compare_as_their_json():
    assert ACTIVE | FINISHED == set(JobState) and not ACTIVE & FINISHED
    assert "running" in ACTIVE and "timed_out" in FINISHED


def test_the_dashboard_styles_every_state():
    assert set(STATE_STYLES) == set(JobState)


def test_the_dashboards_fake_jobs_are_job_records():
    jobs = FakeClient().jobs()
    assert jobs and all(JobRecord.from_json(job).to_json() == job for job in jobs)
