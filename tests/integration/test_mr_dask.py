"""The Dask runner on the session's cluster (tests/daskcluster.py): byte-identical to the
local runner, errors, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("distributed")
pytest.importorskip("cloudpickle")

from appliance.cli.common import CommandError  # noqa: E402
from appliance.mr import JobError, LocalRunner, select_inputs  # noqa: E402
from appliance.mr.dask_runner import DaskRunner  # noqa: E402
from tests.integration.test_mr_runner import cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "jobs"


@pytest.fixture(scope="module")
def cluster(dask_cluster):
    """(the session's cluster, a client of it): `.address` is the scheduler's."""
    from distributed import Client

    with Client(dask_cluster.address, timeout=30) as client:
        yield dask_cluster, client


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from tests.stores import converted_store

    data = tmp_path_factory.mktemp("dask-conv")
    config = converted_store(data, 120, per_segment=30)
    inputs = select_inputs(data / "store")
    assert len(inputs) >= 2
    return data, config, inputs


MAP_ONLY = """
from orjson import loads

def map(key, dims, value, context):
    context.write(key, "|".join(dims) + " " + str(len(value)))
"""

MAP_RAISES = """
def map(key, dims, value, context):
    if key.endswith("5"):
        raise KeyError("bad record")
    context.write("n", 1)

def reduce(key, values, context):
    context.write(key, sum(values))
"""


def _script(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, reducers", [
    ("count_by_os.py", 2), ("histogram_by_channel.py", 2), ("map_only", 1)])
def test_dask_output_equals_local(cluster, converted, tmp_path, name, reducers):
    _, client = cluster
    _, _, inputs = converted
    job = (_script(tmp_path, MAP_ONLY, "map_only_job.py") if name == "map_only"
           else EXAMPLES / name)
    local = LocalRunner(job, inputs, tmp_path / "local.out", mappers=2,
                        reducers=reducers).run()
    phases = []
    dask_summary = DaskRunner(job, inputs, tmp_path / "dask.out", scheduler=client,
                              reducers=reducers, progress=lambda i: phases.append(i.phase)
                              ).run()
    want = (tmp_path / "local.out").read_bytes()
    assert want and (tmp_path / "dask.out").read_bytes() == want
    assert dask_summary.records == local.records > 0
    assert dask_summary.output_records == local.output_records
    assert dask_summary.data_bytes == local.data_bytes
    assert phases[0] == "map" and phases[-1] == "done"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_dask_map_error_is_clear(cluster, converted, tmp_path):
    lc, _ = cluster
    _, _, inputs = converted
    job = _script(tmp_path, MAP_RAISES, "raises.py")
    out = tmp_path / "out"
    out.write_text("old\n")
    with pytest.raises(JobError) as e:
        DaskRunner(job, inputs, out, scheduler=lc.address).run()
    msg = str(e.value)
    assert f"job script {job}: map raised KeyError: 'bad record'" in msg
    assert "  input " in msg and ", line " in msg and "(docId 'doc-" in msg
    assert out.read_text() == "old\n"  # left as it was
    # with max_errors high enough the bad records are skipped and counted (shared counter)
    s = DaskRunner(job, inputs, out, scheduler=lc.address, max_errors=1000).run()
    bad = s.errors
    assert bad > 0 and s.first_error.startswith(f"job script {job}: map raised KeyError")
    assert out.read_text() == f"n\t{s.records - bad}\n"
    with pytest.raises(JobError, match=f"more than max_errors={bad - 1} bad records"):
        DaskRunner(job, inputs, out, scheduler=lc.address, max_errors=bad - 1).run()


def test_cli_runner_dask(cluster, converted, tmp_path):
    lc, _ = cluster
    _, config, _ = converted
    base = ["job", "run", str(EXAMPLES / "count_by_os.py"), "--filter",
            str(EXAMPLES / "filters" / "saved_session_firefox.json")]
    code, _, _ = cli(base + ["--output", str(tmp_path / "local")], config)
    assert code == 0
    code, summary, progress = cli(base + ["--output", str(tmp_path / "dask"), "--runner",
                                          "dask", "--scheduler", lc.address,
                                          "--reducers", "2"], config)
    assert code == 0 and "errors: 0" in summary and "records" in summary
    assert progress.splitlines()[-1].startswith("done:")
    assert (tmp_path / "dask").read_bytes() == (tmp_path / "local").read_bytes()
    with pytest.raises(CommandError, match="--scheduler"):
        cli(base + ["--output", str(tmp_path / "x"), "--runner", "dask"], config)


def test_no_inputs_and_missing_dask(cluster, converted, tmp_path, monkeypatch):
    _, client = cluster
    _, config, _ = converted
    s = DaskRunner(EXAMPLES / "count_by_os.py", [], tmp_path / "empty", scheduler=client,
                   reducers=2).run()
    assert s.records == 0 and (tmp_path / "empty").read_bytes() == b""
    monkeypatch.setitem(__import__("sys").modules, "distributed", None)
    with pytest.raises(CommandError, match=r"install appliance\[dask\]"):
        cli(["job", "run", str(EXAMPLES / "count.py"), "--filter",
              str(EXAMPLES / "filters" / "all.json"), "--output", str(tmp_path / "x"),
              "--runner", "dask", "--scheduler", "tcp://127.0.0.1:1"], config)


def test_helper_module_is_shipped(cluster, converted, tmp_path):
    _, client = cluster
    _, _, inputs = converted
    _script(tmp_path, "def label(dims):\n    return 'ch=' + dims[2]\n", "dask_helper_mod.py")
    job = _script(tmp_path, "from dask_helper_mod import label\n\n"
                            "def map(key, dims, value, context):\n"
                            "    context.write(label(dims), 1)\n\n"
                            "def reduce(key, values, context):\n"
                            "    context.write(key, sum(values))\n", "uses_helper.py")
    LocalRunner(job, inputs, tmp_path / "local").run()
    DaskRunner(job, inputs, tmp_path / "dask", scheduler=client).run()
    assert (tmp_path / "dask").read_bytes() == (tmp_path / "local").read_bytes()
    assert (tmp_path / "dask").read_text().startswith("ch=")
    # shipped by value: the workers never imported the script or its helper by name
    seen = client.run(eval, "[m for m in __import__('sys').modules "
                            "if m == 'dask_helper_mod' or m.startswith('appliance_job_')]")
    assert seen and not any(seen.values())


def test_dask_workers_read_s3_inputs_themselves(cluster, tmp_path, s3, bucket):
    """Local and exported files together: the driver lists S3, the workers download and
    verify the objects (nothing lands in the driver's cache), each record counted once."""
    from tests.integration.test_mr_s3 import count, split_store, total

    lc, _ = cluster
    config, g = split_store(tmp_path, s3, bucket)
    n, err = count(["--runner", "dask", "--scheduler", lc.address], config, tmp_path)
    assert n == total(g["s3"] + g["both"] + g["local"])
    assert f"{len(g['s3']) + len(g['both'])} objects selected, {len(g['both'])} read locally" \
        in err and "the workers download the rest" in err
    assert not (tmp_path / "cache").exists()
    n, _ = count(["--runner", "dask", "--scheduler", lc.address, "--remote-only"],
                 config, tmp_path)
    assert n == total(g["s3"] + g["both"])
