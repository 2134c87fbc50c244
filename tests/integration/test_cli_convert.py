"""`appliance convert` on files and `appliance store ls`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from appliance.cli.main import main
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from tests import pings

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
NS = 1_795_000_000 * 10**9


def run(*argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main([*map(str, argv)], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def segment_with(tmp_path: Path) -> Path:
    spool = SpoolDir(tmp_path / "in")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=1e9)
    ids = RecordIds()
    # No dimensions in the path: they come from the payload's info.
    records = [SpoolRecord(ids.next(), NS, f"/submit/telemetry/d{i}",
                           pings.body(i, channel=["release", "beta"][i % 2]))
               for i in range(10)]
    records.append(SpoolRecord(ids.next(), NS, "/submit/eco/event/1/e1", b'{"x": 1}'))
    records.append(SpoolRecord(ids.next(), NS, "/submit/telemetry/bad", b"not json"))
    appender.append(records)
    appender.rotate()
    (segment,) = spool.sealed_segments()
    return segment


def test_convert_a_segment_then_list_and_filter_the_store(tmp_path):
    segment = segment_with(tmp_path)
    specs = pings.write_spec(tmp_path / "specs")
    code, out, err = run("convert", segment, "--out", tmp_path / "out", "--specs", specs,
                         "--data-dir", tmp_path / "data")
    assert code == 0, err
    assert "converted 11, invalid 1, bad_json: 1" in out
    assert segment.exists()  # inputs are not modified
    code, out, _ = run("store", "ls", "--store", tmp_path / "out", "--json",
                       "--data-dir", tmp_path / "data")
    listed = {row["partition"]: row["records"] for row in map(json.loads, out.splitlines())}
    date = "20261118"
    assert listed == {
        f"telemetry/saved_session/Firefox/beta/23.0/20130814063812/{date}": 5,
        f"telemetry/saved_session/Firefox/release/23.0/20130814063812/{date}": 5,
        f"eco/main/event/1/UNKNOWN/{date}": 1,
        f"invalid/telemetry/OTHER/OTHER/OTHER/UNKNOWN/UNKNOWN/{date}": 1,
    }
    flt = tmp_path / "beta.json"
    flt.write_text(json.dumps({"version": 1, "dimensions": [
        {"field_name": "appUpdateChannel", "allowed_values": ["beta"]}]}))
    code, out, _ = run("store", "ls", "--store", tmp_path / "out", "--filter", flt,
                       "--data-dir", tmp_path / "data")
    assert code == 0
    assert out.splitlines()[-1] == "total: 1 partitions, 1 files, 5 records, " + \
        out.splitlines()[0].split("\t")[-1].replace(" bytes", "") + " bytes"


def test_bad_inputs_are_named(tmp_path):
    code, _, err = run("convert", tmp_path / "missing.seg", "--out", tmp_path / "o",
                       "--data-dir", tmp_path)
    assert code == 2 and "missing.seg: no such file" in err
    junk = tmp_path / "junk.log"
    junk.write_bytes(b"hello, not a log")
    code, _, err = run("convert", junk, "--out", tmp_path / "o", "--data-dir", tmp_path)
    assert code == 2 and "junk.log" in err
    code, _, err = run("store", "ls", "--data-dir", tmp_path / "empty")
    assert code == 2 and "no store at" in err
    bad_filter = tmp_path / "f.json"
    bad_filter.write_text('{"version": 1, "dimensions": [{"field_name": "x"}]}')
    (tmp_path / "s").mkdir()
    code, _, err = run("store", "ls", "--store", tmp_path / "s", "--filter", bad_filter,
                       "--data-dir", tmp_path)
    assert code == 2 and "f.json" in err


@pytest.mark.skipif(not CORPUS.exists(), reason="../shared/corpus is absent")
def test_convert_the_corpus_raw_log(tmp_path):
    code, out, err = run("convert", CORPUS / "telemetry1.log", "--out", tmp_path / "out",
                         "--specs", CORPUS / "histograms", "--data-dir", tmp_path / "data")
    assert code == 0, err
    assert "converted 1, invalid 0" in out
    record, side = sorted((tmp_path / "out").rglob("*.zst"))
    dims = ("idle_daily", "Firefox", "release", "23.0.1", "20130814063812", "20130910")
    assert record.relative_to(tmp_path / "out").parts[:-1] == ("telemetry", *dims)
    # Its two histograms that the spec lacks, beside it.
    assert side.relative_to(tmp_path / "out").parts[:-1] == (
        "telemetry-unknown-histograms", *dims)
    assert side.name.endswith(".1.zst")
