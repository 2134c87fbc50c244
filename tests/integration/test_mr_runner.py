"""The local MapReduce runner over generated stores, and `appliance job run` on the examples."""

from __future__ import annotations

import argparse
import io
import json
import os
import threading
from collections import Counter
from pathlib import Path

import pytest
import zstandard

from appliance.cli import job_cmd
from appliance.cli.common import CommandError, common_options
from appliance.mr import JobCancelled, JobError, LocalRunner, select_inputs
from appliance.storage.filters import Filter

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "jobs"
CHANNELS = ["release", "beta", "aurora", "nightly"]
DATES = ["20131001", "20131002"]
OSES = ["WINNT", "Linux", "Darwin"]


def record(i: int, channel: str) -> dict:
    return {"ver": 2, "info": {"OS": OSES[i % 3], "appUpdateChannel": channel},
            "simpleMeasurements": {"uptime": i},
            "histograms": {"SAFE_MODE": [1, i % 2, 0, i % 2, -1, -1, -1, -1]}}


def write_store(root: Path, n: int, files_per_partition: int = 2) -> dict[str, dict]:
    """n records over len(CHANNELS) x len(DATES) partitions; files of two zstd frames each."""
    docs: dict[str, dict] = {}
    partitions = [(c, d) for c in CHANNELS for d in DATES]
    per_file: dict[tuple, list[str]] = {}
    for i in range(n):
        channel, date = partitions[i % len(partitions)]
        doc = f"doc-{i:05d}"
        docs[doc] = dict(record(i, channel), _partition=(channel, date))
        slot = (channel, date, (i // len(partitions)) % files_per_partition)
        per_file.setdefault(slot, []).append(
            f"{doc}\t{json.dumps(record(i, channel), separators=(',', ':'))}\n")
    for (channel, date, k), lines in per_file.items():
        folder = root / "telemetry" / "saved-session" / "Firefox" / channel / "23.0" / \
            "20130814063812" / date
        folder.mkdir(parents=True, exist_ok=True)
        half = len(lines) // 2
        data = b"".join(zstandard.ZstdCompressor().compress("".join(part).encode())
                        for part in (lines[:half], lines[half:]))
        (folder / f"node1.0001.{k:04d}.{len(lines)}.zst").write_bytes(data)
    return docs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("mr") / "store"
    docs = write_store(root, 3000)
    return root, docs


def script(tmp_path: Path, text: str, name: str = "job.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run(job: Path, inputs, out: Path, **kw):
    summary = LocalRunner(job, inputs, out, **kw).run()
    return summary, out.read_text()


def leftovers(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("*") if p.name.startswith((".", "appliance-job-"))]


COUNT_WITH_LEN = """
def map(k, dims, v, context):
    context.write(dims[2], 1)
def combine(k, values, context):
    context.write(k, sum(values))
def reduce(k, values, context):
    context.write(k, f"{sum(values)} from {len(values)}")
"""


def test_combine_reduces_the_values_a_reducer_sees(store, tmp_path):
    root, docs = store
    s, text = run(script(tmp_path, COUNT_WITH_LEN), select_inputs(root), tmp_path / "out",
                  mappers=2, reducers=2, combine_threshold=10)
    counts = Counter(d["_partition"][0] for d in docs.values())
    got = {line.split("\t")[0]: line.split("\t")[1] for line in text.splitlines()}
    assert {k: int(v.split()[0]) for k, v in got.items()} == counts
    assert all(int(v.split()[-1]) <= 2 for v in got.values())  # one combined value per mapper
    assert s.records == 3000 and s.keys == 4 and s.output_records == 4


def test_a_map_only_job_writes_its_map_output_sorted(store, tmp_path):
    root, docs = store
    job = script(tmp_path, "import json\n"
                           "def map(k, dims, v, c):\n    c.write(k, json.loads(v)['info']['OS'])\n")
    s, text = run(job, select_inputs(root), tmp_path / "out", mappers=3, reducers=2)
    assert text.splitlines() == sorted(f"{d}\t{r['info']['OS']}" for d, r in docs.items())
    assert s.output_records == 3000 and s.keys == 0


def test_a_map_only_job_uses_the_separators_setup_reduce_sets(store, tmp_path):
    # As in 2013, where a map-only job's output went through a reducer's context.
    root, docs = store
    job = script(tmp_path, "import json\n"
                           "def map(k, dims, v, c):\n    c.write(k, json.loads(v)['info']['OS'])\n"
                           "def setup_reduce(c):\n    c.field_separator = ','\n"
                           "    c.record_separator = ';\\n'\n")
    s, text = run(job, select_inputs(root), tmp_path / "out", mappers=2)
    assert text.splitlines() == sorted(f"{d},{r['info']['OS']};" for d, r in docs.items())
    assert s.output_records == 3000


def test_setup_reduce_and_writecsv_make_csv(store, tmp_path):
    root, docs = store
    s, text = run(EXAMPLES / "histogram_by_channel.py", select_inputs(root),
                  tmp_path / "out.csv", mappers=2, reducers=3)
    rows = [line.split(",") for line in text.splitlines()]
    assert rows[0] == ["channel", "bucket_index", "count", "submissions"]  # once, on top
    assert (tmp_path / "out.csv").read_bytes().count(b"\r\n") == len(rows)
    per_channel = Counter(d["_partition"][0] for d in docs.values())
    odd = Counter(d["_partition"][0] for d in docs.values()
                  if d["simpleMeasurements"]["uptime"] % 2)
    expected = sorted([c, "0", str(per_channel[c]), str(per_channel[c])] for c in CHANNELS)
    assert sorted(r for r in rows if r[1] == "0") == expected
    assert {r[0]: int(r[2]) for r in rows if r[1] == "1"} == odd


def test_writecsv_quotes_fields_as_the_csv_defaults_do(store, tmp_path):
    root, _ = store
    job = script(tmp_path, "def map(k, d, v, c):\n    c.write(d[2], 1)\n"
                           "def setup_reduce(c):\n    c.field_separator = ';'\n"
                           "def reduce(k, vs, c):\n"
                           "    c.writecsv([k + ';x', k + ',y', 'say \"hi\"', len(vs)])\n")
    run(job, select_inputs(root), tmp_path / "out")
    first = (tmp_path / "out").read_bytes().split(b"\r\n")[0]
    assert first == b'aurora;x,"aurora,y","say ""hi""",750'


BAD_RECORDS = """
def map(k, dims, v, context):
    if k.endswith("7"):
        raise RuntimeError("no sevens: " + k)
    context.write("ok", 1)
def reduce(k, values, context):
    context.write(k, sum(values))
"""


def test_a_map_error_names_script_function_file_and_line(store, tmp_path):
    root, _ = store
    job = script(tmp_path, BAD_RECORDS, "sevens.py")
    inputs = select_inputs(root, _channel_filter("beta"))
    with pytest.raises(JobError) as e:
        LocalRunner(job, inputs, tmp_path / "out", mappers=1, work_dir=tmp_path).run()
    msg = str(e.value)
    assert str(job) in msg and "map raised RuntimeError: no sevens" in msg
    assert "line " in msg and any(f.path in msg for f in inputs)
    first = msg.split("\n")[1]
    path, line = first.split("input ")[1].split(", line ")
    n = int(line.split()[0])
    with open(path, "rb") as f:
        lines = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
    assert lines.splitlines()[n - 1].decode().split("\t")[0].endswith("7")
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_max_errors_skips_bad_records_and_counts_them(store, tmp_path):
    root, docs = store
    job = script(tmp_path, BAD_RECORDS)
    sevens = sum(d.endswith("7") for d in docs)
    s, text = run(job, select_inputs(root), tmp_path / "out", mappers=2, max_errors=sevens)
    assert s.errors == sevens and text == f"ok\t{3000 - sevens}\n"
    assert "no sevens" in s.first_error
    with pytest.raises(JobError, match=f"more than max_errors={sevens - 1}"):
        run(job, select_inputs(root), tmp_path / "out2", mappers=2, max_errors=sevens - 1)


def test_a_value_error_in_map_is_a_bad_line_skipped_and_counted(store, tmp_path):
    root, docs = store
    job = script(tmp_path, BAD_RECORDS.replace("RuntimeError", "ValueError"))
    s, text = run(job, select_inputs(root), tmp_path / "out", mappers=2)
    sevens = sorted(d for d in docs if d.endswith("7"))
    assert text == f"ok\t{3000 - len(sevens)}\n"
    assert s.bad_lines == len(sevens) and s.errors == 0 and s.first_error is None
    # the first 20 are described: file, line and docId; the line holds that docId
    assert len(s.bad_line_notes) == 20
    for note in s.bad_line_notes:
        where, doc = note.split(" (docId '")
        path, line = where.removeprefix("input ").split(", line ")
        with open(path, "rb") as f:
            data = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True).read()
        assert data.splitlines()[int(line) - 1].decode().startswith(doc.split("'")[0] + "\t")
        assert doc.endswith("ValueError: no sevens: " + doc.split("'")[0])
    assert f"bad lines: {len(sevens)} records skipped" in s.report()


def test_setup_reduce_header_is_written_once_on_top(store, tmp_path):
    root, docs = store
    job = script(tmp_path, "def map(k, d, v, c):\n    c.write(d[2], 1)\n"
                           "def setup_reduce(c):\n    c.writecsv(['channel', 'n'])\n"
                           "def reduce(k, vs, c):\n    c.writecsv([k, len(vs)])\n")
    for reducers in (1, 3):
        s, _ = run(job, select_inputs(root), tmp_path / f"out{reducers}", mappers=2,
                   reducers=reducers)
        text = (tmp_path / f"out{reducers}").read_bytes().decode()
        per_channel = Counter(d["_partition"][0] for d in docs.values())
        assert text.split("\r\n") == (["channel,n"] + [f"{c},{per_channel[c]}"
                                                       for c in sorted(CHANNELS)] + [""])
        assert s.output_records == len(CHANNELS)
        assert s.header_lines == 1  # the dashboard names the columns with it


@pytest.mark.parametrize("example", ["count_by_os.py", "histogram_by_channel.py", "extract.py"])
def test_output_is_byte_identical_for_1x1_and_4x3(store, tmp_path, example):
    root, _ = store
    inputs = select_inputs(root)
    _, one = run(EXAMPLES / example, inputs, tmp_path / "a", mappers=1, reducers=1)
    _, many = run(EXAMPLES / example, inputs, tmp_path / "b", mappers=4, reducers=3,
                  spill_bytes=4096, combine_threshold=3)
    assert one == many and one


PER_DOC = """
def map(k, dims, v, context):
    context.write(k[-3:], len(v))
def reduce(k, values, context):
    context.write(k, len(values))
"""


def test_map_output_larger_than_the_spill_threshold_goes_through_spill_files(store, tmp_path):
    root, docs = store
    s, text = run(script(tmp_path, PER_DOC), select_inputs(root), tmp_path / "out",
                  mappers=2, reducers=3, spill_bytes=2000)
    assert s.spills >= 10  # the threshold was passed many times: memory stayed bounded
    assert s.keys == 1000 and s.output_records == 1000
    assert text.splitlines() == sorted(f"{i:03d}\t3" for i in range(1000))
    assert leftovers(tmp_path) == []


HANG = """
import os, threading
def map(k, dims, v, context):
    with open(os.environ["MR_TEST_FIFO"], "w") as fifo:
        fifo.write("in map\\n")  # tells the test this mapper is busy
    threading.Event().wait()  # hangs until cancelled
"""


def test_cancel_stops_every_worker_and_removes_temp_files(store, tmp_path, monkeypatch):
    root, _ = store
    work = tmp_path / "work"
    work.mkdir()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    monkeypatch.setenv("MR_TEST_FIFO", str(fifo))
    runner = LocalRunner(script(tmp_path, HANG), select_inputs(root), tmp_path / "out",
                         mappers=2, reducers=2, work_dir=work)
    errors = []

    def target():
        try:
            runner.run()
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=target)
    t.start()
    busy = 0
    while busy < 2:  # wait until both mappers are inside map (each opens the fifo once)
        with open(fifo) as f:
            busy += f.read().count("in map")
    procs = list(runner._procs)
    assert len(procs) == 2
    runner.cancel()
    t.join(30)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], JobCancelled)
    assert all(not p.is_alive() for p in procs)
    for p in procs:
        with pytest.raises(ProcessLookupError):
            os.kill(p.pid, 0)
    assert list(work.iterdir()) == [] and not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_a_crashing_script_is_a_clear_error_and_leaves_no_temp_files(store, tmp_path):
    root, _ = store
    work = tmp_path / "work"
    work.mkdir()
    job = script(tmp_path, "import os\ndef map(k, d, v, c):\n    os._exit(3)\n", "crash.py")
    with pytest.raises(JobError, match=r"crash.py: mapper process \d exited with code 3"):
        LocalRunner(job, select_inputs(root), tmp_path / "out", mappers=2,
                    work_dir=work).run()
    job = script(tmp_path, "def map(k, d, v, c):\n    c.write(1, 1)\n"
                           "def reduce(k, vs, c):\n    raise KeyError('boom')\n", "redfail.py")
    with pytest.raises(JobError, match="redfail.py: reduce raised KeyError: 'boom' for key 1"):
        LocalRunner(job, select_inputs(root), tmp_path / "out", work_dir=work).run()
    assert list(work.iterdir()) == [] and leftovers(tmp_path) == []


def _channel_filter(channel: str) -> Filter:
    return Filter.from_dict({"version": 1, "dimensions": [
        {"field_name": "appUpdateChannel", "allowed_values": [channel]}]})


def test_a_filter_prunes_partitions_without_opening_their_files(tmp_path):
    root = tmp_path / "store"
    docs = write_store(root, 400)
    for folder in (root / "telemetry" / "saved-session" / "Firefox" / "release").rglob("*"):
        if folder.is_dir() and folder.name.isdigit() and len(folder.name) == 8:
            (folder / "node1.9999.0000.5.zst").write_bytes(b"not zstd")  # would fail if read
    inputs = select_inputs(root, _channel_filter("beta"))
    assert inputs and all("/beta/" in f.path for f in inputs)
    s, text = run(EXAMPLES / "count.py", inputs, tmp_path / "out")
    beta = sum(d["_partition"][0] == "beta" for d in docs.values())
    assert text == f"records\t{beta}\n" and s.records == beta
    with pytest.raises(JobError):  # the planted files are really unreadable
        run(EXAMPLES / "count.py", select_inputs(root), tmp_path / "out2")


def cli(argv: list[str], config) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="appliance")
    sub = parser.add_subparsers(dest="command", required=True)
    job_cmd.add_parser(sub, common_options())
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    code = job_cmd.run_job(args, config, out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from tests.stores import converted_store

    data = tmp_path_factory.mktemp("conv")
    config = converted_store(data, 60, per_segment=30)
    return data, config


@pytest.mark.parametrize("example, filter_name, check", [
    ("count.py", "all.json", lambda t: t.startswith("records\t")),
    ("count_by_os.py", "saved_session_firefox.json",
     lambda t: {line.split("\t")[0] for line in t.splitlines()} == set(OSES)),
    ("histogram_by_channel.py", "saved_session_firefox.json",
     lambda t: t.splitlines()[0] == "channel,bucket_index,count,submissions"
     and t.splitlines()[1].startswith("release,0,")),
    ("extract.py", "saved_session_firefox.json",
     lambda t: all(line.startswith("doc-") for line in t.splitlines())),
])
def test_job_run_on_the_examples(converted, tmp_path, example, filter_name, check):
    data, config = converted
    out = tmp_path / "out"
    code, summary, progress = cli(["job", "run", str(EXAMPLES / example), "--filter",
                                   str(EXAMPLES / "filters" / filter_name), "--output", str(out),
                                   "--mappers", "2", "--reducers", "2"], config)
    assert code == 0 and check(out.read_text())
    assert "records" in summary and "time:" in summary and "errors: 0" in summary
    assert progress.splitlines()[-1].startswith("done:")


def test_job_run_reports_a_bad_filter_and_a_bad_script(converted, tmp_path):
    _, config = converted
    bad = tmp_path / "f.json"
    bad.write_text('{"dimensions": 3}')
    with pytest.raises(CommandError, match="filter"):
        cli(["job", "run", str(EXAMPLES / "count.py"), "--filter", str(bad), "--output",
             str(tmp_path / "o")], config)
    with pytest.raises(CommandError, match="has no map"):
        cli(["job", "run", str(script(tmp_path, "x = 1\n")), "--filter",
             str(EXAMPLES / "filters" / "all.json"), "--output", str(tmp_path / "o")], config)
