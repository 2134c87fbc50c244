"""The 2013 command line on `appliance job run`: flags, their defaults, and the mistakes
that are errors (a missing or wrong data dir, a misspelt dimension, no input files)."""

from __future__ import annotations

import io
import json
import os
import pstats
import sys
from collections import Counter

import pytest

from appliance.cli.main import main
from appliance.export.factory import build_uploader
from tests.integration.test_export import export_env
from tests.integration.test_mr_runner import CHANNELS, write_store
from tests.stores import config_for

# A 2013-style job: CSV with a header from setup_reduce, a ValueError on some records.
BY_CHANNEL = """
import json

def map(key, dims, value, context):
    record = json.loads(value)
    if record["simpleMeasurements"]["uptime"] % 10 == 9:
        raise ValueError("uptime ends in 9")
    context.write(dims[2], 1)

def setup_reduce(context):
    context.writecsv(["channel", "submissions"])

def reduce(key, values, context):
    context.writecsv([key, sum(values)])
"""


def filter_file(tmp_path, **allowed) -> str:
    dims = [{"field_name": name, "allowed_values": value} for name, value in allowed.items()]
    path = tmp_path / f"filter-{len(list(tmp_path.glob('filter-*')))}.json"
    path.write_text(json.dumps({"version": 1, "dimensions": dims}))
    return str(path)


def run(argv: list[str], monkeypatch, env: dict | None = None) -> tuple[int, str, str]:
    """`appliance ARGV` in this process, with only `env` as the APPLIANCE_ environment."""
    for name in [n for n in os.environ if n.startswith("APPLIANCE_")]:
        monkeypatch.delenv(name)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)  # where job run's notes and progress go
    code = main(argv, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def old_dir(tmp_path_factory):
    """A 2013-style data dir: just a tree of input files (here in the appliance layout)."""
    root = tmp_path_factory.mktemp("job2013")
    docs = write_store(root / "data", 400)
    (root / "by_channel.py").write_text(BY_CHANNEL)
    return root, docs


def expected(docs: dict, channels=CHANNELS) -> tuple[str, int]:
    good = Counter(d["_partition"][0] for d in docs.values()
                   if d["simpleMeasurements"]["uptime"] % 10 != 9
                   and d["_partition"][0] in channels)
    bad = sum(1 for d in docs.values() if d["simpleMeasurements"]["uptime"] % 10 == 9
              and d["_partition"][0] in channels)
    rows = ["channel,submissions"] + [f"{c},{good[c]}" for c in sorted(good)]
    return "\r\n".join(rows) + "\r\n", bad


def test_a_2013_run_sh_command_line_runs(old_dir, tmp_path, monkeypatch):
    root, docs = old_dir
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out.csv"
    code, summary, err = run(
        ["job", "run", str(root / "by_channel.py"), "--num-mappers", "3", "--num-reducers", "2",
         "--input-filter", filter_file(tmp_path, appUpdateChannel=["beta", "aurora"]),
         "--data-dir", str(root / "data"), "--work-dir", str(work), "--output", str(out),
         "--local-only", "--verbose", "--delete-data"], monkeypatch)
    assert code == 0, err
    want, bad = expected(docs, ("beta", "aurora"))
    assert out.read_bytes().decode() == want
    assert f"bad lines: {bad} records skipped" in summary
    assert f"--data-dir {root / 'data'}: not an appliance data dir, so read as in 2013" in err
    assert "--delete-data: ignored; a job never deletes input data here" in err
    listed = [line for line in err.splitlines() if line.startswith("input: ")]
    assert len(listed) == 2 * 2 * 2 and all("/beta/" in f or "/aurora/" in f for f in listed)
    assert sum(1 for _ in (root / "data").rglob("*.zst")) == 4 * 2 * 2  # nothing deleted
    assert list(work.iterdir()) == []  # spill files went there and were removed


def test_short_flags_and_the_2013_default_of_4_mappers(old_dir, tmp_path, monkeypatch):
    root, docs = old_dir
    out = tmp_path / "out.csv"
    code, summary, err = run(
        ["job", "run", str(root / "by_channel.py"), "-f", filter_file(tmp_path),
         "-d", str(root / "data"), "-o", str(out), "-l", "-X", "-v"], monkeypatch)
    assert code == 0, err
    assert out.read_bytes().decode() == expected(docs)[0]
    assert "with 4 mappers, 1 reducers" in summary


def test_profile_writes_a_cprofile_file_per_mapper(old_dir, tmp_path, monkeypatch):
    root, _ = old_dir
    out = tmp_path / "out.csv"
    code, _, err = run(["job", "run", str(root / "by_channel.py"), "-p", "-m", "2", "-l",
                        "-d", str(root / "data"), "-o", str(out)], monkeypatch)
    assert code == 0, err
    profiles = sorted((tmp_path / "out.csv.profile").iterdir())
    assert [p.name for p in profiles] == ["mapper-0.prof", "mapper-1.prof"]
    calls = pstats.Stats(str(profiles[0])).stats  # the job's map is in it
    assert any(func == "map" and "by_channel.py" in path for path, _, func in calls)


def test_bucket_and_keys_read_s3_into_an_empty_2013_data_dir(old_dir, s3, bucket, tmp_path,
                                                             monkeypatch):
    """2013's production run.sh: an empty --data-dir, inputs from --bucket."""
    root, docs = old_dir
    env = export_env(s3, bucket)
    config, _ = config_for(tmp_path / "exporter", **env)
    uploader = build_uploader(config)
    store = root / "data"
    files = sorted(store.rglob("*.zst"))
    for path in files:
        uploader.export(path, path.relative_to(store).as_posix())
    empty = tmp_path / "data"
    empty.mkdir()
    (empty / "telemetry").mkdir()  # an object already here is read from here, as in 2013
    first_key = files[0].relative_to(store)
    (empty / first_key).parent.mkdir(parents=True)
    (empty / first_key).write_bytes(files[0].read_bytes())
    only_endpoint = {k: v for k, v in env.items()
                     if k in ("APPLIANCE_EXPORT_ENDPOINT_URL", "APPLIANCE_EXPORT_REGION",
                              "APPLIANCE_EXPORT_PREFIX")}
    out = tmp_path / "out.csv"
    code, summary, err = run(
        ["job", "run", str(root / "by_channel.py"), "-d", str(empty), "-o", str(out),
         "-w", str(tmp_path), "-b", bucket, "-k", s3.access_key, "-s", s3.secret_key],
        monkeypatch, env=only_endpoint)
    assert code == 0, err
    assert out.read_bytes().decode() == expected(docs)[0]
    assert (f"s3: {len(files)} objects selected, 1 read locally instead (a file of that "
            f"name in the data dir), 0 from the cache, {len(files) - 1} downloaded") in err
    assert f"input: {len(files)} files" in summary
    assert (tmp_path / "cache").is_dir()  # 2013 downloaded into <work-dir>/cache


def test_no_input_files_is_a_warning_with_exit_status_3(old_dir, tmp_path, monkeypatch):
    root, _ = old_dir
    out = tmp_path / "out.csv"
    code, summary, err = run(
        ["job", "run", str(root / "by_channel.py"), "-l", "-d", str(root / "data"),
         "-f", filter_file(tmp_path, submission_date=["20991231"]), "-o", str(out)],
        monkeypatch)
    assert code == 3
    assert "appliance: warning: the job read no input records" in err
    assert "input: 0 files" in summary
    assert out.read_bytes() == b"channel,submissions\r\n"  # the header, and nothing else


def test_a_misspelt_dimension_is_an_error_naming_it(old_dir, tmp_path, monkeypatch):
    root, _ = old_dir
    code, _, err = run(
        ["job", "run", str(root / "by_channel.py"), "-l", "-d", str(root / "data"),
         "-f", filter_file(tmp_path, appUpdateChanel=["beta"]), "-o", str(tmp_path / "o")],
        monkeypatch)
    assert code == 2
    assert "no dimension named 'appUpdateChanel' in the schema" in err
    assert ("telemetry: reason, appName, appUpdateChannel, appVersion, appBuildID, "
            "submission_date") in err
    assert not (tmp_path / "o").exists()


def test_a_missing_data_dir_is_an_error_and_is_not_created(old_dir, tmp_path, monkeypatch):
    root, _ = old_dir
    code, _, err = run(["job", "run", str(root / "by_channel.py"), "-d", str(tmp_path / "nope"),
                        "-o", str(tmp_path / "o")], monkeypatch)
    assert code == 2
    assert f"--data-dir {tmp_path / 'nope'}: no such directory" in err and "not created" in err
    assert not (tmp_path / "nope").exists()


@pytest.mark.parametrize("exists", [True, False])
def test_a_configured_data_dir_that_is_not_one_is_an_error(old_dir, tmp_path, monkeypatch,
                                                           exists):
    root, _ = old_dir
    wrong = tmp_path / "not-data"
    if exists:
        wrong.mkdir()
    code, _, err = run(["job", "run", str(root / "by_channel.py"), "-o", str(tmp_path / "o")],
                       monkeypatch, env={"APPLIANCE_SERVER_DATA_DIR": str(wrong)})
    assert code == 2
    assert f"{wrong} is not an appliance data dir" in err
    assert list(wrong.iterdir()) == [] if exists else not wrong.exists()
