"""The admin API resource, driven in memory: auth on every path, stats, history, logs,
metrics, errors."""

from __future__ import annotations

from dataclasses import replace

import pytest
from twisted.internet.defer import succeed
from twisted.logger import LogLevel

from appliance.admin.token import bearer_matches, ensure_token
from appliance.jobs.record import JobRecord
from appliance.jobs.states import JobState
from tests.unit.admin_fakes import TOKEN, Api, FakeServer

PATHS = ["/v1/stats", "/v1/history", "/v1/ledger", "/v1/partitions", "/v1/logs",
         "/v1/jobs", "/v1/jobs/j-1", "/v1/jobs/j-1/output", "/metrics", "/v1/nope", "/"]


@pytest.fixture
def api(tmp_path):
    return Api(FakeServer(tmp_path))


@pytest.mark.parametrize("path", PATHS)
def test_every_path_needs_the_bearer_token(api, path):
    for kwargs in ({"token": None}, {"token": "wrong"}, {"auth": f"Basic {TOKEN}"},
                   {"auth": TOKEN}, {"token": TOKEN[:-1]}):
        answer = api.call("GET", path, **kwargs)
        assert answer.status == 401, kwargs
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "error" in answer.json() and TOKEN not in answer.body.decode()


@pytest.mark.parametrize("name", ["token", "access_token", "auth"])
def test_a_token_in_the_query_string_is_not_accepted(api, name):
    answer = api.call("GET", f"/v1/stats?{name}={TOKEN}", token=None)
    assert answer.status == 401


def test_stats_reports_the_counters_and_health(api):
    stats = api.server.stats
    stats.requests_by_status[200] += 7
    stats.requests_by_status[507] += 2
    stats.bytes_received = 1234
    stats.request_latency.add(0.25)
    answer = api.call("GET", "/v1/stats")
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["ingest"]["requests_by_status"] == {"200": 7, "507": 2}
    assert body["ingest"]["bytes_received"] == 1234
    assert body["ingest"]["latency_seconds"]["p50"] == 0.25
    assert body["node_id"] == "node-a" and body["version"]
    assert body["health"] == {"ok": True, "problems": []}
    assert body["disk"]["free_bytes"] == 5 << 30
    assert body["jobs"] == {"enabled": False}


def test_health_names_the_problems(api):
    api.server.disk.low = "disk space low: 1 bytes free"

    class Writer:
        failing = "spool: [Errno 5] EIO"

    api.server.writer = Writer()
    problems = api.call("GET", "/v1/stats").json()["health"]["problems"]
    assert problems[0] == "disk space low: 1 bytes free"
    assert "fsync" in problems[1] and "EIO" in problems[1]


def test_health_names_converter_and_export_problems(api):
    class Converter:
        running, restarts, paused = False, 3, None

    api.server.converter = Converter()
    api.server.stats.export = {"enabled": True, "problem": "s3://b: AccessDenied",
                               "lag_seconds": 10.0}
    (api.server.data_dir / "spool").mkdir()
    (api.server.data_dir / "spool" / f"sealed-{10**9:020d}-1-abc.seg").write_bytes(b"")
    api.server.reactor.advance(2000)  # sealed at t=1 s: waiting longer than 2 x 300 + 60 s
    problems = api.call("GET", "/v1/stats").json()["health"]["problems"]
    assert problems[0] == "converter not running (restarted 3 times; see the log)"
    assert problems[1].startswith("converter behind: the oldest sealed spool segment")
    assert problems[2] == "export failing: s3://b: AccessDenied"
    assert 'appliance_healthy 0.0' in api.call("GET", "/metrics").body.decode()


def test_stats_and_metrics_list_the_spool_off_the_reactor_thread_once(tmp_path):
    from twisted.internet.defer import Deferred

    pending = []

    def later(f):
        pending.append((Deferred(), f))
        return pending[-1][0]

    api = Api(FakeServer(tmp_path), blocking=later)
    (tmp_path / "spool").mkdir()
    (tmp_path / "spool" / f"sealed-{10**9:020d}-1-abc.seg").write_bytes(b"x")
    stats, metrics = api.view.stats(), api.resource.metrics()
    assert not stats.called and not metrics.called
    # one listing for both: a call made while the spool is being listed shares it
    assert [f for _, f in pending] == [api.view.spool_backlog]
    d, f = pending.pop()
    d.callback(f())
    assert stats.result["spool"]["sealed_segments"] == 1
    assert stats.result["spool"]["size_bytes"] == 1
    assert "appliance_spool_sealed_segments 1.0" in metrics.result.decode()
    # the next call lists again (nothing is cached), and a failed listing fails every caller
    (tmp_path / "spool" / f"sealed-{2 * 10**9:020d}-1-abc.seg").write_bytes(b"yy")
    first, second = api.view.stats(), api.view.stats()
    d, f = pending.pop()
    d.callback(f())
    assert [s.result["spool"]["sealed_segments"] for s in (first, second)] == [2, 2]
    failing = [api.view.stats(), api.view.stats()]
    pending.pop()[0].errback(OSError("listing failed"))
    for stat in failing:
        assert isinstance(stat.result.value, OSError)
        stat.addErrback(lambda failure: None)
    assert not pending


def test_health_names_a_saturated_public_port(api):
    api.server.stats.open_connections = api.server.config.receiver.max_connections - 1
    assert api.call("GET", "/v1/stats").json()["health"]["ok"]
    api.server.stats.open_connections += 1
    problems = api.call("GET", "/v1/stats").json()["health"]["problems"]
    assert len(problems) == 1 and problems[0].startswith("public port saturated: 1024 ")


def test_health_shows_a_paused_converter(api):
    class Converter:
        running, restarts, paused = True, 0, "disk space low: 5 bytes (0.0%) free in /d"

    api.server.converter = Converter()
    api.server.stats.converter = {"paused": Converter.paused, "quarantined": 2}
    problems = api.call("GET", "/v1/stats").json()["health"]["problems"]
    assert problems == ["converter paused: disk space low: 5 bytes (0.0%) free in /d"]
    metrics = api.call("GET", "/metrics").body.decode()
    assert "appliance_converter_paused 1.0" in metrics
    assert "appliance_converter_quarantined_total 2.0" in metrics


def test_history_samples_every_second_and_keeps_the_last_n(api):
    clock, stats = api.server.reactor, api.server.stats
    api.view.history.start()
    for _ in range(7):
        stats.requests_by_status[200] += 10
        stats.bytes_received += 1000
        clock.advance(1)
    samples = api.call("GET", "/v1/history").json()["samples"]
    assert len(samples) == 5  # history_size
    assert [s["requests"] for s in samples] == [30, 40, 50, 60, 70]
    assert samples[-1]["t"] - samples[0]["t"] == 4
    rates = api.call("GET", "/v1/stats").json()["rates"]
    assert rates == {"requests_per_s": 10.0, "bytes_per_s": 1000.0}


def test_metrics_carry_the_same_numbers(api):
    api.server.stats.requests_by_status[200] += 3
    api.server.stats.spool_errors["EIO"] += 1
    answer = api.call("GET", "/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.body.decode()
    assert 'appliance_requests_total{status="200"} 3.0' in text
    assert 'appliance_spool_errors_total{error="EIO"} 1.0' in text
    assert "appliance_ledger_unreconciled_days 0.0" in text
    assert 'appliance_info{node_id="node-a"' in text


def test_logs_filter_by_level_and_limit(api):
    for i, level in enumerate([LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error]):
        api.events({"log_level": level, "log_format": "event {i}", "i": i, "log_time": 100.0 + i,
                    "log_namespace": "test"})
    events = api.call("GET", "/v1/logs?level=warn").json()["events"]
    assert [(e["level"], e["text"]) for e in events] == [("warn", "event 2"), ("error", "event 3")]
    assert [e["text"] for e in api.call("GET", "/v1/logs?level=debug&limit=2").json()["events"]] \
        == ["event 2", "event 3"]
    bad = api.call("GET", "/v1/logs?level=loud")
    assert bad.status == 400 and "level" in bad.json()["error"]
    assert api.call("GET", "/v1/logs?limit=x").status == 400


def test_unknown_paths_methods_and_disabled_parts(api):
    assert api.call("GET", "/v1/nope").status == 404
    assert api.call("GET", "/v1/stats/extra").status == 404
    wrong = api.call("POST", "/v1/stats")
    assert wrong.status == 405 and "GET" in wrong.json()["error"]
    jobs = api.call("GET", "/v1/jobs")
    assert (jobs.status, jobs.json()) == (503, {"error": "jobs disabled"})
    assert api.call("GET", "/v1/ledger").status == 503  # no ledger in this stand-in


def test_the_token_file_is_created_private_and_kept(tmp_path):
    path = tmp_path / "admin.token"
    token = ensure_token(path)
    assert len(token) >= 40 and path.stat().st_mode & 0o777 == 0o600
    assert ensure_token(path) == token
    path.chmod(0o644)
    assert ensure_token(path) == token and path.stat().st_mode & 0o777 == 0o600


def test_bearer_comparison():
    assert bearer_matches(b"Bearer abc", "abc") and bearer_matches(b"bearer abc", "abc")
    assert not bearer_matches(b"Bearer abd", "abc") and not bearer_matches(None, "abc")
    assert not bearer_matches(b"Token abc", "abc") and not bearer_matches(b"Bearer", "abc")


class FakePool:
    """The JobPool interface with canned answers and the contract's exceptions."""

    def __init__(self):
        self.jobs = {"j-1": JobRecord("j-1", "a.py", JobState.RUNNING, submitted_at=1.0)}

    def submit(self, request):
        from appliance.jobs.pool import JobRequestError

        if "script" not in request:
            raise JobRequestError("script is required")
        self.jobs["j-2"] = JobRecord("j-2", "b.py", JobState.QUEUED, submitted_at=2.0,
                                     options=request)
        return succeed(self.jobs["j-2"])

    def list(self):
        return list(reversed(self.jobs.values()))

    def get(self, job_id):
        from appliance.jobs.pool import UnknownJob

        if job_id not in self.jobs:
            raise UnknownJob(job_id)
        return self.jobs[job_id]

    def cancel(self, job_id):
        return replace(self.get(job_id), state=JobState.CANCELLED)

    def read_output(self, job_id, offset, limit):
        from appliance.jobs.pool import NoOutput

        self.get(job_id)
        raise NoOutput("job j-1 has no output yet")

    def read_log(self, job_id, offset, limit):
        self.get(job_id)
        return succeed({"offset": offset, "next_offset": offset + 2, "size": 2, "eof": True,
                        "text": "ok"[:limit]})

    def counts(self):
        return {"running": 1}


def test_job_endpoints_map_the_pool_to_http(api):
    api.server.jobs = FakePool()
    assert [j["id"] for j in api.call("GET", "/v1/jobs").json()["jobs"]] == ["j-1"]
    created = api.call("POST", "/v1/jobs", body={"script": "def map(k, d, v, c): pass"})
    assert created.status == 201 and created.json()["job"]["id"] == "j-2"
    bad = api.call("POST", "/v1/jobs", body={"name": "x"})
    assert (bad.status, bad.json()) == (400, {"error": "script is required"})
    assert api.call("POST", "/v1/jobs", body=b"[1, 2]").status == 400
    assert api.call("POST", "/v1/jobs", body=b"{nope").status == 400
    assert api.call("GET", "/v1/jobs/j-1").json()["job"]["state"] == "running"
    assert api.call("GET", "/v1/jobs/j-9").status == 404
    assert api.call("POST", "/v1/jobs/j-1/cancel").json()["job"]["state"] == "cancelled"
    assert api.call("GET", "/v1/jobs/j-1/cancel").status == 405
    no_output = api.call("GET", "/v1/jobs/j-1/output?offset=0&limit=10")
    assert no_output.status == 409 and "no output" in no_output.json()["error"]
    assert api.call("GET", "/v1/jobs/j-9/output").status == 404
    log = api.call("GET", "/v1/jobs/j-1/log?offset=0&limit=1").json()
    assert log["text"] == "o" and log["eof"]
    assert api.call("GET", "/v1/jobs/j-1/log?offset=-1").status == 400
    assert api.call("GET", "/v1/jobs/j-1/other").status == 404
    assert api.call("GET", "/v1/stats").json()["jobs"] == {"enabled": True, "running": 1}


@pytest.mark.parametrize("name", ["..", ".", "a\u0000b.py"])
def test_a_bad_job_name_is_a_json_400_naming_the_field(api, tmp_path, name):
    from appliance.jobs.pool import JobPool

    pool = JobPool(api.server.reactor, tmp_path / "jobs", ["appliance", "_job-worker"])
    pool.start()
    api.server.jobs = pool
    answer = api.call("POST", "/v1/jobs", body={"script": "def map(k, d, v, c): pass",
                                                "name": name})
    assert answer.status == 400 and answer.json()["error"].startswith("name must be")
    assert list((tmp_path / "jobs").iterdir()) == []


def test_a_job_below_the_watermark_is_a_json_507(api, tmp_path):
    from appliance.jobs.pool import JobPool

    api.server.disk.low = "disk space low: 5 bytes free"
    api.server.jobs = JobPool(api.server.reactor, tmp_path / "jobs", ["x"],
                              disk=api.server.disk)
    answer = api.call("POST", "/v1/jobs", body={"script": "def map(k, d, v, c): pass"})
    assert answer.status == 507
    assert answer.json() == {"error": "not accepting jobs while disk space low: 5 bytes free"}


def test_a_job_that_cannot_be_stored_is_a_json_507_and_leaves_nothing(api, tmp_path,
                                                                       monkeypatch):
    import errno

    from appliance.jobs.jobdir import JobDir
    from appliance.jobs.pool import JobPool

    def full(self, path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(JobDir, "write", full)
    api.server.jobs = JobPool(api.server.reactor, tmp_path / "jobs", ["x"])
    answer = api.call("POST", "/v1/jobs", body={"script": "def map(k, d, v, c): pass"})
    assert answer.status == 507 and answer.json()["error"].startswith("no space to store")
    assert list((tmp_path / "jobs").iterdir()) == []


def test_a_succeeded_jobs_missing_output_is_a_json_409(api, tmp_path):
    from appliance.jobs.pool import JobPool
    from tests.unit.test_job_pool import old_job

    old_job(tmp_path / "jobs", "j-1", "succeeded")  # its output.txt removed by hand
    api.server.jobs = JobPool(api.server.reactor, tmp_path / "jobs", ["x"])
    api.server.jobs.start()
    answer = api.call("GET", "/v1/jobs/j-1/output")
    assert answer.status == 409 and "no output" in answer.json()["error"]
    assert api.call("GET", "/v1/jobs/j-1/log").json()["text"] == ""


def test_a_failing_log_file_is_a_health_problem_and_its_dropped_lines_are_counted(api):
    from types import SimpleNamespace

    api.server.log_file = SimpleNamespace(dropped=4, failing="cannot write a.log: ENOSPC")
    body = api.call("GET", "/v1/stats").json()
    assert body["log"] == {"dropped_lines": 4, "failing": "cannot write a.log: ENOSPC"}
    assert body["health"]["problems"] == [
        "log file failing: cannot write a.log: ENOSPC (4 lines dropped so far)"]
    assert "appliance_log_dropped_lines_total 4.0" in api.call("GET", "/metrics").body.decode()
    api.server.log_file.failing = None
    assert api.call("GET", "/v1/stats").json()["health"] == {"ok": True, "problems": []}


def test_a_receiver_processs_failing_spool_is_a_health_problem(api):
    from types import SimpleNamespace

    api.server.receivers = SimpleNamespace(failing="receiver process 1: spool: [Errno 28] full")
    assert api.call("GET", "/v1/stats").json()["health"]["problems"] == [
        "spool writes failing (fsync/write errors): receiver process 1: spool: [Errno 28] full"]
