"""Job directories and zips (`appliance.mr.bundle`), their checks in a submission, and the
python path of job libraries (`appliance.mr.pythonpath`)."""

from __future__ import annotations

import base64
import io
import os
import sys
import zipfile

import pytest

from appliance.config import load_config
from appliance.jobs.request import JobRequestError, parse_request
from appliance.mr.bundle import BundleError, check, open_job, pack, unpack
from appliance.mr.job import JobError, load_job
from appliance.mr.pythonpath import add_site_dirs, python_path

JOB = "import helper\ndef map(k, d, v, c):\n    c.write(helper.KEY, 1)\n"


def job_dir(tmp_path):
    d = tmp_path / "myjob"
    (d / "lib").mkdir(parents=True)
    (d / "job.py").write_text(JOB)
    (d / "helper.py").write_text("KEY = 'k'\n")
    (d / "lib" / "__init__.py").write_text("")
    (d / "filter.json").write_text('{"version": 1, "dimensions": []}')
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "helper.cpython-311.pyc").write_bytes(b"x")
    return d


def zip_of(files: dict[str, bytes], links=()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_a_directory_packs_and_unpacks_without_bytecode(tmp_path):
    data = pack(job_dir(tmp_path))
    unpack(data, tmp_path / "out")
    names = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert names == ["filter.json", "helper.py", "job.py", "lib/__init__.py"]
    assert (tmp_path / "out" / "job.py").read_text() == JOB


def test_open_job_finds_the_entry_and_the_filter(tmp_path):
    d = job_dir(tmp_path)
    files = open_job(d, tmp_path / "scratch")
    assert files.script == d / "job.py" and files.filter == d / "filter.json"
    (tmp_path / "top.zip").write_bytes(zip_of({"myjob/job.py": JOB.encode(),
                                               "myjob/helper.py": b"KEY = 1\n"}))
    files = open_job(tmp_path / "top.zip", tmp_path / "scratch")
    assert files.script.read_text() == JOB and files.filter is None
    assert (files.folder / "helper.py").is_file()
    assert open_job(d / "job.py", tmp_path / "scratch").script == d / "job.py"
    (d / "job.py").unlink()
    with pytest.raises(BundleError, match="no job.py in it"):
        open_job(d, tmp_path / "scratch")


@pytest.mark.parametrize("files, links, problem", [
    ({"../evil.py": b""}, (), "outside"),
    ({"/abs.py": b""}, (), "outside"),
    ({"job.py": b""}, ("link.py",), "outside"),
    ({f"m{i}.py": b"" for i in range(1001)}, (), "more than 1000 files"),
    ({"job.py": b"0" * (17 << 20)}, (), "16 MiB unpacked"),
    ({"job.py": os.urandom(3 << 20)}, (), "2 MiB packed"),
])
def test_a_bundle_that_could_escape_or_is_too_big_is_refused(tmp_path, files, links, problem):
    with pytest.raises(BundleError, match=problem):
        unpack(zip_of(files, links), tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.py").exists()


def test_a_submission_with_a_bundle_is_checked(tmp_path):
    data = base64.b64encode(pack(job_dir(tmp_path))).decode()
    r = parse_request({"script": JOB, "name": "job.py", "bundle": data})
    assert r.bundle == data and "bundle" not in r.options() and "script" not in r.options()
    with pytest.raises(JobRequestError, match="no other.py at its root"):
        parse_request({"script": JOB, "name": "other.py", "bundle": data})
    with pytest.raises(JobRequestError, match="not base64"):
        parse_request({"script": JOB, "bundle": "%%%"})
    with pytest.raises(JobRequestError, match="outside"):
        parse_request({"script": JOB, "bundle": base64.b64encode(
            zip_of({"job.py": b"", "../x": b""})).decode()})
    assert check(base64.b64decode(data), entry="job.py")


def test_a_python2_submission_is_named_and_py2_lets_it_in():
    old = "def map(k, d, v, c):\n    print k\n"
    with pytest.raises(JobRequestError, match=r"t.py is Python 2: line 2: .*--py2"):
        parse_request({"script": old, "name": "t.py"})
    assert parse_request({"script": old, "name": "t.py", "py2": True}).py2
    with pytest.raises(JobRequestError, match="does not compile"):
        parse_request({"script": "def (:\n"})


def test_python_path_from_config_and_options(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    (a / "x.pth").write_text("sub\n")
    config = load_config(env={"APPLIANCE_JOBS_PYTHON_PATH": f"{a}:{a}"})
    assert python_path(config, [b]) == [a, b]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert python_path(config, env={"PYTHONPATH": str(b)}) == [a, b]  # the binary reads it
    monkeypatch.setattr(sys, "path", list(sys.path))
    add_site_dirs([a])
    assert str(a) in sys.path and str(a / "sub") in sys.path  # .pth files count
    with pytest.raises(JobError, match="python path .*missing: not a directory"):
        python_path(config, [tmp_path / "missing"])


def test_two_jobs_with_same_named_helpers_each_get_their_own(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "helper.py").write_text(f"WHO = {name!r}\n")
        (tmp_path / name / "job.py").write_text(
            "import helper\ndef map(k, d, v, c):\n    c.write(helper.WHO, 1)\n")
    for name in ("a", "b", "a"):
        job = load_job(tmp_path / name / "job.py")
        assert job.module.helper.WHO == name
