"""Which runner a submitted job uses: the request's choice, else the server's [jobs] keys."""

from __future__ import annotations

import pytest

from appliance.config import load_config
from appliance.jobs.request import JobRequest, JobRequestError, parse_request
from appliance.jobs.worker import choose_runner
from appliance.mr import JobError

SCRIPT = "def map(k, d, v, c): pass\n"


def config(**env: str):
    return load_config(env=env)


def request(**options: str) -> JobRequest:
    return JobRequest(script=SCRIPT, **options)


def test_a_request_may_name_a_runner_and_a_scheduler():
    r = parse_request({"script": SCRIPT, "runner": "dask", "scheduler": "tcp://h:8786"})
    assert (r.runner, r.scheduler) == ("dask", "tcp://h:8786")
    assert r.options()["runner"] == "dask"
    r = parse_request({"script": SCRIPT})
    assert (r.runner, r.scheduler) == ("", "")  # the server's settings


@pytest.mark.parametrize("field, value, message", [
    ("runner", "spark", "runner must be one of"), ("runner", None, "runner must be one of"),
    ("scheduler", 8786, "scheduler must be an address"),
    ("scheduler", "tcp://h:1\n", "scheduler must be an address")])
def test_a_bad_runner_or_scheduler_is_refused_naming_the_field(field, value, message):
    with pytest.raises(JobRequestError, match=message):
        parse_request({"script": SCRIPT, field: value})


def test_the_request_wins_over_the_server_settings():
    dask = config(APPLIANCE_JOBS_RUNNER="dask", APPLIANCE_JOBS_SCHEDULER="tcp://s:8786")
    assert choose_runner(request(), dask) == ("dask", "tcp://s:8786")
    assert choose_runner(request(runner="local"), dask) == ("local", "")
    assert choose_runner(request(scheduler="tcp://t:1"), dask) == ("dask", "tcp://t:1")
    assert choose_runner(request(runner="", scheduler=""), config()) == ("local", "")
    assert choose_runner(request(runner="dask", scheduler="tcp://t:1"), config()) == \
        ("dask", "tcp://t:1")


def test_dask_without_a_scheduler_is_a_clear_error():
    with pytest.raises(JobError, match=r"needs a scheduler: \[jobs\] scheduler"):
        choose_runner(request(runner="dask"), config())


def test_the_config_refuses_an_unknown_runner():
    from appliance.config import ConfigError

    with pytest.raises(ConfigError, match="runner"):
        config(APPLIANCE_JOBS_RUNNER="spark")
