"""2013-style Python 2 jobs in the server's pool: a job directory (helper module,
filter.json) and a script needing a library from [jobs] python_path, submitted with --py2;
a Python 2 job without it fails with a clear message."""

from __future__ import annotations

import gzip
import io
import json
import shutil

import pytest

from appliance.cli.main import main
from tests import pings
from tests.integration.serverproc import ServerProcess, post
from tests.jobs2013 import JOBS, LIB, expected, extras, parse_output

N = 40


def ping_2013(i: int) -> dict:
    """A ping valid for the test spec, with the 2013 sections of `extras(i)`."""
    p, more = pings.ping(i), extras(i)
    p["info"].update(more.pop("info"))
    return p | more


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs2013-pool")
    env = {"APPLIANCE_HISTOGRAMS_SPEC_DIR": str(pings.write_spec(tmp / "specs")),
           "APPLIANCE_STORE_MAX_FILE_AGE": "0.2", "APPLIANCE_JOBS_PYTHON_PATH": str(LIB)}
    srv = ServerProcess(tmp / "data", env=env).start()
    try:
        for i in range(N):
            body = gzip.compress(json.dumps(ping_2013(i)).encode())
            assert post(srv, f"/submit/telemetry/p-{i}/{pings.DIMS}", body).status == 200
        yield srv
    finally:
        assert srv.stop() == 0


def rows() -> list:
    """(dims, record) of what the server stored: the jobs read only the record's content."""
    return [(["saved-session", "Firefox"], ping_2013(i)) for i in range(N)]


def submit(server, *argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["job", "submit", *map(str, argv), "--wait",
                 "--data-dir", str(server.data_dir)], out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("style", ["slowsql", "mainthreadio"])
def test_the_pool_ports_and_runs_a_2013_job(server, tmp_path, style):
    src = JOBS / style if (JOBS / style).is_dir() else JOBS / f"{style}.py"
    code, text, err = submit(server, src, "--py2")
    assert code == 0, text + err
    job_id = text.split()[0]
    output = server.admin().job_output(job_id)["text"]
    assert parse_output(output) == expected(style, rows())
    log = server.admin().job_log(job_id)["text"]
    assert "py2: ported" in log


def test_a_python2_job_without_py2_fails_with_how_to_port_it(server, tmp_path):
    job = shutil.copytree(JOBS / "chromehangs", tmp_path / "hangs")  # compiles, cannot import
    code, text, _ = submit(server, job)
    assert code == 1 and "failed" in text
    assert "is Python 2: line 3: 'import cStringIO'" in text and "--py2" in text
    code, _, err = submit(server, JOBS / "simple_counter.py")  # does not compile: refused
    assert code == 2 and "simple_counter.py is Python 2: line 7" in err and "--py2" in err
