"""2013-style Python 2 jobs (tests/data/jobs2013) after `appliance job port`, run with a
2013 run.sh's flags, and with `job run --py2`: answers checked against
tests/jobs2013.expected; helper modules from a job directory, a library from
--python-path."""

from __future__ import annotations

import io
import shutil
from collections import Counter

import pytest

from appliance.cli.main import main
from tests.jobs2013 import JOBS, LIB, expected, parse_output, write_store

STYLES = ["simple_counter", "os_distribution", "slowsql", "mainthreadio", "chromehangs",
          "addon_perf", "flash_versions", "experiments", "fxos", "loop_failures"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jobs2013")
    rows = write_store(tmp / "store", 240)
    (tmp / "data" / "spool").mkdir(parents=True)  # an (empty) appliance data dir
    return tmp, rows


def appliance(tmp, *argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*map(str, argv), "--data-dir", str(tmp / "data")], out, err)
    return code, out.getvalue(), err.getvalue()


def job_source(name: str, tmp) -> str:
    """A copy of the job in tmp (a directory job: its folder), as `job port` takes it."""
    src = JOBS / name if (JOBS / name).is_dir() else JOBS / f"{name}.py"
    dest = tmp / src.name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dest)
    return dest


def run_args(tmp, job, out) -> list:
    return ["job", "run", job, "--store", tmp / "store", "--output", out, "--python-path", LIB,
            "--mappers", "2", "--reducers", "2"]


def run_2013(tmp, job, out, *more) -> tuple[int, str, str]:
    """`job run` with a 2013 run.sh's flags: a filter, mappers and reducers, the store as
    a plain data dir (-d) read locally (-l), a work dir, the output."""
    flt = tmp / "filter.json"
    flt.write_text('{"version": 1, "dimensions": '
                   '[{"field_name": "reason", "allowed_values": "*"}]}')
    argv = ["job", "run", job, "-f", flt, "-m", "2", "-r", "2", "-d", tmp / "store", "-l",
            "-w", tmp, "-o", out, "--python-path", LIB, *more]
    out_, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], out_, err)
    return code, out_.getvalue(), err.getvalue()


@pytest.mark.parametrize("style", STYLES)
def test_a_ported_2013_job_gives_the_2013_answer(store, tmp_path, style):
    tmp, rows = store
    src = job_source(style, tmp_path)
    original = {p: p.read_bytes() for p in ([src] if src.is_file() else src.rglob("*"))
                if p.is_file()}
    code, diff, _ = appliance(tmp, "job", "port", src)
    assert code == 0 and diff.startswith("---") and "wrote" in diff
    assert {p: p.read_bytes() for p in original} == original  # the original is untouched
    ported = src.with_name(src.name + "_py3") if src.is_dir() else \
        src.with_name(f"{style}_py3.py")
    out = tmp_path / "out"
    code, summary, err = run_2013(tmp, ported, out)
    assert code == 0, err
    assert parse_output(out.read_text()) == expected(style, rows)
    assert "errors: 0" in summary


@pytest.mark.parametrize("style", ["slowsql", "mainthreadio"])
def test_job_run_py2_ports_on_the_fly(store, tmp_path, style):
    tmp, rows = store
    src = job_source(style, tmp_path)
    out = tmp_path / "out"
    code, _, err = appliance(tmp, *run_args(tmp, src, out), "--py2")
    assert code == 0, err
    assert parse_output(out.read_text()) == expected(style, rows)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # port removed


def test_a_python2_job_is_refused_with_a_clear_message(store, tmp_path):
    tmp, _ = store
    src = job_source("chromehangs", tmp_path)
    code, _, err = appliance(tmp, *run_args(tmp, src, tmp_path / "out"))
    assert code == 2
    assert "is Python 2: line 3: 'import cStringIO' (ModuleNotFoundError" in err
    assert "appliance job port" in err and "--py2" in err
    assert not (tmp_path / "out").exists()


def test_a_ported_job_directory_runs_on_a_dask_cluster(store, tmp_path, dask_cluster):
    tmp, rows = store
    src = job_source("chromehangs", tmp_path)
    assert appliance(tmp, "job", "port", src)[0] == 0
    out = tmp_path / "out"
    code, _, err = appliance(tmp, *run_args(tmp, src.with_name("chromehangs_py3"), out),
                             "--runner", "dask", "--scheduler", dask_cluster.address)
    assert code == 0, err
    assert parse_output(out.read_text()) == expected("chromehangs", rows)


def test_the_example_port_is_what_job_port_writes_and_both_forms_run(store, tmp_path):
    tmp, rows = store
    example = JOBS.parents[2] / "examples" / "jobs" / "port2013"
    assert appliance(tmp, "job", "port", example / "os_by_channel_py2.py",
                     "-o", tmp_path / "port.py")[0] == 0
    assert (tmp_path / "port.py").read_text() == (example / "os_by_channel.py").read_text()
    want = Counter(f"{d[2]},{r['info']['OS']}" for d, r in rows if "info" in r)
    for job, py2 in ((example / "os_by_channel.py", ()), (example / "os_by_channel_py2.py",
                                                          ("--py2",))):
        out = tmp_path / "out.csv"
        assert appliance(tmp, *run_args(tmp, job, out), *py2)[0] == 0
        got = dict(line.rsplit(",", 1) for line in out.read_text().splitlines())
        assert got == {k: str(n) for k, n in want.items()}


def test_a_python2_job_failing_while_it_maps_says_so(store, tmp_path):
    tmp, _ = store
    src = job_source("flash_versions", tmp_path)  # compiles and imports: fails in map
    code, _, err = appliance(tmp, *run_args(tmp, src, tmp_path / "out"))
    assert code == 2
    assert "map raised NameError: name 'basestring' is not defined" in err
    assert f"{src} is Python 2: line 6: 'if not isinstance(version, basestring):'" in err
    assert "--py2" in err


def test_a_python2_helper_module_is_named(store, tmp_path):
    tmp, _ = store
    src = job_source("slowsql", tmp_path)  # job.py compiles; its helper fails on import
    code, _, err = appliance(tmp, *run_args(tmp, src, tmp_path / "out"))
    assert code == 2
    assert f"{src / 'job.py'} is Python 2: sqlutil.py line 4: " in err
    assert "(AttributeError: module 'string' has no attribute 'maketrans')" in err
    assert f"appliance job port {src}`" in err


def test_job_port_never_overwrites_and_a_zip_job_runs(store, tmp_path):
    tmp, rows = store
    src = job_source("slowsql", tmp_path)
    script = job_source("fxos", tmp_path)
    assert appliance(tmp, "job", "port", script, "-o", script)[0] == 2
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    code, _, err = appliance(tmp, "job", "port", broken)
    assert code == 2 and "line 1: cannot parse as Python 2 or 3" in err
    assert not (tmp_path / "broken_py3.py").exists()
    assert appliance(tmp, "job", "port", src)[0] == 0
    code, _, err = appliance(tmp, "job", "port", src)  # the port of a directory exists
    assert code == 2 and "slowsql_py3 exists" in err
    archive = shutil.make_archive(str(tmp_path / "slowsql"), "zip", tmp_path, "slowsql_py3")
    out = tmp_path / "out"
    code, summary, err = appliance(tmp, *run_args(tmp, archive, out))
    assert code == 0, err
    assert "input: 6 files" in summary  # filter.json from the zip: not the 2 FirefoxOS ones
    assert parse_output(out.read_text()) == expected("slowsql", rows)
