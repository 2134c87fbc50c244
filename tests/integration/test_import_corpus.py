"""`appliance import` of the real 2013 raw log in ../shared/corpus (skipped if absent)."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import pytest

from appliance.cli.main import main
from appliance.spool.reader import ReadReport, read_segment
from appliance.spool.segments import SpoolDir

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
RAW_LOG = CORPUS / "telemetry1.log"

pytestmark = pytest.mark.skipif(not RAW_LOG.exists(), reason="../shared/corpus is absent")


def test_import_the_corpus_raw_log(tmp_path):
    raw = RAW_LOG.read_bytes()
    # The v1 preamble, read independently of the code under test.
    sep, path_len, data_len, ms = struct.unpack_from("<BHIQ", raw)
    assert sep == 0x1E
    raw_path = raw[15:15 + path_len].decode()
    raw_body = raw[15 + path_len:15 + path_len + data_len]
    stray = len(raw) - (15 + path_len + data_len)

    out, err = io.StringIO(), io.StringIO()
    code = main(["import", str(RAW_LOG), "--data-dir", str(tmp_path)], stdout=out, stderr=err)

    # The file ends with a newline after its record: not damage, but said.
    assert stray == 1 and raw[-1:] == b"\n"
    assert code == 0, out.getvalue() + err.getvalue()
    assert err.getvalue() == ""
    summary = out.getvalue()
    assert (f"{RAW_LOG}: 1 records ({data_len} bytes) imported, "
            f"0 bytes skipped in 0 damaged regions [v1 raw log]") in summary
    assert "ignored 1 bytes of white space after the last record" in summary

    spool = SpoolDir(tmp_path / "spool")
    assert not spool.current.exists()              # sealed for the converter
    segments = spool.sealed_segments()
    assert len(segments) == 1
    report = ReadReport()
    records = list(read_segment(segments[0], report))
    assert report.damaged == []
    assert len(records) == 1
    record = records[0]
    assert record.path == raw_path
    assert record.path.endswith("/idle-daily/Firefox/23.0.1/release/20130814063812")
    assert record.received_ns == ms * 1_000_000
    assert record.headers == {} and record.client_ip is None
    assert record.body == raw_body and record.body[:2] == b"\x1f\x8b"
    payload = gzip.decompress(record.body)
    assert len(payload) == 77_740
    ping = json.loads(payload)
    assert ping["info"]["revision"].endswith("a55c55edf302")
    assert len(ping["histograms"]) == 328

    # The spool tools see the same record.
    out = io.StringIO()
    assert main(["spool", "verify", "--data-dir", str(tmp_path)], stdout=out) == 0
    assert "total: 1 segments, 1 records, 0 damaged regions, 0 damaged bytes" in out.getvalue()
    out = io.StringIO()
    assert main(["spool", "dump", str(segments[0])], stdout=out) == 0
    (line,) = out.getvalue().splitlines()
    dumped = json.loads(line)
    assert dumped["path"] == raw_path and dumped["body_length"] == data_len
    assert dumped["received"] == "2013-09-10T14:21:51.255000Z"


def test_import_the_corpus_raw_log_gzipped(tmp_path):
    packed = tmp_path / "telemetry1.log.gz"
    packed.write_bytes(gzip.compress(RAW_LOG.read_bytes()))
    out = io.StringIO()
    code = main(["import", str(packed), "--data-dir", str(tmp_path / "data")], stdout=out)
    assert code == 0
    assert "1 records (18255 bytes) imported" in out.getvalue()
    assert "[v1 raw log, gzip]" in out.getvalue()
    (segment,) = SpoolDir(tmp_path / "data" / "spool").sealed_segments()
    (record,) = read_segment(segment)
    assert len(gzip.decompress(record.body)) == 77_740
