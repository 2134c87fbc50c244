"""`job run --store` over a tree of the 2013 server's published files (.lzma and .xz)."""

from __future__ import annotations

import json
import lzma
import uuid
from collections import Counter
from pathlib import Path

import pytest

from appliance.cli.common import CommandError
from tests.integration.test_mr_runner import cli
from tests.stores import config_for

# reason/appName/channel/appVersion directories; appBuildID.date in the file name.
PARTITIONS = [
    ("saved_session", "Firefox", "release", "24.0", "20130910160258", "20131001"),
    ("saved_session", "Firefox", "nightly", "27.0a1", "20131001030204", "20131002"),
    ("idle_daily", "Firefox", "release", "24.0", "20130910160258", "20131001"),
    ("saved_session", "Fennec", "beta", "25.0", "20131015004001", "20131020"),
]
COUNT_JOB = """\
import json

def map(key, dims, value, context):
    context.write("/".join(dims), json.loads(value)["simpleMeasurements"]["uptime"])

def reduce(key, values, context):
    context.write(key, "%d %d" % (len(values), sum(values)))
"""


def write_2013_tree(root: Path) -> Counter:
    """Two files per partition, one .lzma (the 'alone' format the 2013 exporter wrote) and
    one .xz, with i records each; returns partition -> (records, uptime sum)."""
    expected: Counter = Counter()
    n = 0
    for p, dims in enumerate(PARTITIONS):
        directory = root.joinpath(*dims[:4])
        directory.mkdir(parents=True, exist_ok=True)
        for suffix, fmt in ((".lzma", lzma.FORMAT_ALONE), (".xz", lzma.FORMAT_XZ)):
            name = f"{dims[4]}.{dims[5]}.v2.log.{uuid.uuid4().hex}{suffix}"
            lines = []
            for _ in range(p + 2):
                n += 1
                doc = {"ver": 2, "info": {"reason": dims[0]}, "simpleMeasurements": {"uptime": n}}
                lines.append(f"{uuid.uuid4()}\t{json.dumps(doc)}\n")
                expected["/".join(dims), "records"] += 1
                expected["/".join(dims), "uptime"] += n
            (directory / name).write_bytes(lzma.compress("".join(lines).encode(), format=fmt))
    (root / "saved_session" / "README.txt").write_text("not data")
    (root / "saved_session" / "Firefox" / "release" / "24.0" / "x.v2.log.lzma").write_bytes(b"")
    return expected


def run_job(tmp_path: Path, store: Path, filter_doc: dict | None) -> tuple[dict, str]:
    config, _ = config_for(tmp_path / "data")
    script = tmp_path / "count.py"
    script.write_text(COUNT_JOB)
    out = tmp_path / "out.tsv"
    flt = tmp_path / "filter.json"
    flt.write_text(json.dumps(filter_doc or {"version": 1, "dimensions": []}))
    code, summary, err = cli(["job", "run", str(script), "--store", str(store), "--filter",
                              str(flt), "--output", str(out), "--mappers", "2"], config)
    assert code == 0, err
    rows = dict(line.split("\t") for line in out.read_text().splitlines())
    return rows, summary + err


def test_a_job_reads_every_record_of_a_2013_tree(tmp_path):
    expected = write_2013_tree(tmp_path / "published")
    rows, report = run_job(tmp_path, tmp_path / "published", None)
    assert rows == {"/".join(d): f"{expected['/'.join(d), 'records']} "
                                 f"{expected['/'.join(d), 'uptime']}" for d in PARTITIONS}
    assert "files of the 2013 server" in report and "published-2013 28" in report


def test_a_filter_prunes_a_2013_tree_by_its_path(tmp_path):
    expected = write_2013_tree(tmp_path / "published")
    # As written in 2013 ("saved-session" matched the directory saved_session), and a range
    # on the date that comes from the file name.
    rows, _ = run_job(tmp_path, tmp_path / "published", {"version": 1, "dimensions": [
        {"field_name": "reason", "allowed_values": ["saved-session"]},
        {"field_name": "appName", "allowed_values": ["Firefox"]},
        {"field_name": "submission_date", "allowed_values": {"min": "20131002"}}]})
    dims = "/".join(PARTITIONS[1])
    assert rows == {dims: f"{expected[dims, 'records']} {expected[dims, 'uptime']}"}


def test_a_directory_with_nothing_readable_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    (empty / "saved_session" / "Firefox").mkdir(parents=True)
    (empty / "saved_session" / "notes.txt").write_text("x")
    with pytest.raises(CommandError, match="neither store files .* nor files of the 2013"):
        run_job(tmp_path, empty, None)
