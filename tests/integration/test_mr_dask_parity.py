"""The Dask runner at parity with the local runner: spool records, --dedupe, --max-errors,
per-source counts, byte-identical output; on a cluster of separate scheduler and worker
processes (the session's `dask_cluster`)."""

from __future__ import annotations

import pytest

from appliance.convert.factory import converter_loop
from appliance.mr import JobError
from appliance.mr.inputs import InputFile
from appliance.spool import RecordIds
from tests.integration.test_mr_dedupe import EXTRACT, write_round
from tests.integration.test_mr_runner import cli
from tests.stores import config_for

pytest.importorskip("distributed")

from appliance.mr.dask_runner import DaskRunner  # noqa: E402

RAISES_ON_DOC_1 = """
import json

def map(key, dims, value, context):
    if key == "doc-1":
        raise RuntimeError("doc-1 is bad")
    context.write(key, json.loads(value)["simpleMeasurements"]["uptime"])
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A data dir with 19 records in the store (two generations) and 2 still in the spool;
    doc-0 .. doc-9 submitted up to four times."""
    tmp = tmp_path_factory.mktemp("dask-parity")
    data = tmp / "data"
    (tmp / "all.json").write_text('{"version": 1, "dimensions": []}')
    config, _ = config_for(data)
    ids = RecordIds()
    write_round(data, ids, 0, 10)
    write_round(data, ids, 1, 6)
    converter_loop(config).drain()
    write_round(data, ids, 2, 3)
    converter_loop(config).drain()
    write_round(data, ids, 3, 2)  # stays in the spool
    for name, text in (("extract.py", EXTRACT), ("raises.py", RAISES_ON_DOC_1)):
        (tmp / name).write_text(text)
    return tmp, config


def run_both(node, dask_cluster, tmp_path, script: str, *flags) -> tuple[str, str, bytes]:
    """Run `script` with the local and the Dask runner; (local summary, dask summary,
    output), after checking that both outputs are the same bytes."""
    tmp, config = node
    base = ["job", "run", str(tmp / script), "--filter", str(tmp / "all.json"), *flags]
    code, local, _ = cli(base + ["--output", str(tmp_path / "local")], config)
    assert code == 0
    code, dask, _ = cli(base + ["--output", str(tmp_path / "dask"), "--runner", "dask",
                                "--scheduler", dask_cluster.address], config)
    assert code == 0
    out = (tmp_path / "local").read_bytes()
    assert out and (tmp_path / "dask").read_bytes() == out
    return local, dask, out


def lines(summary: str, prefix: str) -> str:
    return next(line for line in summary.splitlines() if line.startswith(prefix))


def test_spool_records_are_read_on_dask(node, dask_cluster, tmp_path):
    local, dask, out = run_both(node, dask_cluster, tmp_path, "extract.py", "--mappers", "2")
    assert len(out.splitlines()) == 10 + 6 + 3 + 2
    assert b"doc-1\t301\n" in out  # round 3: only in the spool
    for summary in (local, dask):
        assert lines(summary, "sources:") == "sources: spool 2, store 19"
        assert lines(summary, "spool:").startswith("spool: 2 records not converted yet")


def test_spool_with_reducers_on_dask(node, dask_cluster, tmp_path):
    tmp, _ = node
    (tmp / "by_doc.py").write_text(EXTRACT + "\n\ndef reduce(key, values, context):\n"
                                            "    context.write(key, sorted(values))\n")
    _, dask, out = run_both(node, dask_cluster, tmp_path, "by_doc.py", "--reducers", "2")
    assert b"doc-1\t[1, 101, 201, 301]\n" in out and len(out.splitlines()) == 10
    assert "21 records" in lines(dask, "input:")


def test_dedupe_on_dask(node, dask_cluster, tmp_path):
    local, dask, out = run_both(node, dask_cluster, tmp_path, "extract.py", "--dedupe",
                                "--reducers", "2")
    got = dict(line.split("\t") for line in out.decode().splitlines())
    assert got == {f"doc-{d}": str((300 if d < 2 else 200 if d < 3 else 100 if d < 6 else 0)
                                   + d) for d in range(10)}
    # the winners mapped: doc-0 and doc-1 from the spool, the other 8 from the store
    assert lines(local, "sources:") == lines(dask, "sources:") == "sources: spool 2, store 8"


def test_max_errors_on_dask(node, dask_cluster, tmp_path):
    tmp, config = node
    # doc-1 is in all four rounds: 3 in the store, 1 in the spool
    _, dask, out = run_both(node, dask_cluster, tmp_path, "raises.py", "--max-errors", "4")
    assert b"doc-1\t" not in out and len(out.splitlines()) == 21 - 4
    assert "errors: 4 records skipped" in dask
    assert "map raised RuntimeError: doc-1 is bad" in lines(dask, "first error:")
    with pytest.raises(Exception, match="more than max_errors=3 bad records"):
        cli(["job", "run", str(tmp / "raises.py"), "--filter", str(tmp / "all.json"),
             "--output", str(tmp_path / "x"), "--max-errors", "3", "--runner", "dask",
             "--scheduler", dask_cluster.address], config)


def test_unreadable_local_input_is_an_error(dask_cluster, tmp_path, node):
    tmp, _ = node
    gone = InputFile(str(tmp_path / "gone.zst"), "telemetry", (), 10)
    with pytest.raises(JobError, match=r"cannot read the input .*gone.zst"):
        DaskRunner(tmp / "extract.py", [gone], tmp_path / "out",
                   scheduler=dask_cluster.address).run()
    assert not (tmp_path / "out").exists()


def test_an_object_gone_before_a_worker_fetches_it_fails_the_job(dask_cluster, tmp_path, s3,
                                                                  bucket):
    """Listed by the driver, deleted before the worker downloads it: the job fails naming
    the object; it is never skipped."""
    from appliance.mr.plan import plan_inputs
    from appliance.storage.filters import Filter
    from tests.integration.test_mr_s3 import COUNT, split_store

    config, groups = split_store(tmp_path, s3, bucket)
    inputs = plan_inputs(config, Filter.all(), None, local=False, remote=True,
                         download=False)
    gone = groups["s3"][0]
    s3.client().delete_object(Bucket=bucket, Key=f"{config.export.prefix.strip('/')}/{gone}"
                              if config.export.prefix.strip("/") else gone)
    with pytest.raises(JobError) as e:
        DaskRunner(COUNT, inputs.files, tmp_path / "out", scheduler=dask_cluster.address,
                   config=config).run()
    assert f"(inputs: s3://{bucket}/" in str(e.value) and gone in str(e.value)
    assert "NoSuchKey" in str(e.value)
    assert not (tmp_path / "out").exists()


STYLE_2013 = """
import json

def map(key, dims, value, context):
    if key == "doc-2":
        raise ValueError("doc-2 is a bad line")
    context.write(key[:5], json.loads(value)["simpleMeasurements"]["uptime"])

def setup_reduce(context):
    context.writecsv(["doc", "submissions", "uptime"])

def reduce(key, values, context):
    context.writecsv([key, len(values), sum(values)])
"""


def test_2013_output_and_bad_lines_on_dask(node, dask_cluster, tmp_path):
    tmp, _ = node
    (tmp / "style2013.py").write_text(STYLE_2013)
    local, dask, out = run_both(node, dask_cluster, tmp_path, "style2013.py", "--reducers", "3")
    # doc-2 was submitted 3 times: 3 bad lines skipped, not errors; the header once, on top
    rows = out.decode().split("\r\n")
    assert rows[0] == "doc,submissions,uptime" and rows.count(rows[0]) == 1
    assert rows[1:] == ["doc-0,4,600", "doc-1,4,604", "doc-3,2,106", "doc-4,2,108",
                        "doc-5,2,110", "doc-6,1,6", "doc-7,1,7", "doc-8,1,8", "doc-9,1,9", ""]
    for summary in (local, dask):
        assert "errors: 0 records skipped" in summary
        assert lines(summary, "bad lines:") == ("bad lines: 3 records skipped "
                                                "(map raised ValueError)")
        assert summary.count("Bad line: ") == 3 and "(docId 'doc-2'): ValueError" in summary
