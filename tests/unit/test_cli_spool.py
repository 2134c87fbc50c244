"""`appliance spool verify|dump` and `appliance import`, through main()."""

from __future__ import annotations

import base64
import errno
import gzip
import io
import json
import os
import struct

import pytest

from appliance.cli.main import main
from appliance.spool import frame
from appliance.spool.appender import AppendResult, SegmentAppender
from appliance.spool.reader import read_segment
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir

MS = 1_378_822_911_255
NS = 1_700_000_000_123_456_789  # 2023-11-14T22:13:20.123456789Z


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("APPLIANCE_"):
            monkeypatch.delenv(name)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def record(i: int, body: bytes = b'{"a": 1}', **kw) -> SpoolRecord:
    return SpoolRecord(record_id=b"\x00" * 8 + struct.pack(">Q", i), received_ns=NS + i,
                       path=f"/submit/telemetry/doc{i}", body=body, **kw)


def write_segment(spool_root, records, seal: bool = True):
    spool = SpoolDir(spool_root)
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=3600,
                               fsync=False)
    assert appender.append(records).acked == len(records)
    if seal:
        assert appender.rotate()
        return spool.sealed_segments()[-1]
    appender.close()
    return spool.current


def frame_len(rec: SpoolRecord) -> int:
    return frame.frame_size(rec)


# -- spool verify ------------------------------------------------------------

def test_verify_clean_segment(tmp_path):
    seg = write_segment(tmp_path / "spool", [record(0), record(1)])
    code, out, err = run("spool", "verify", str(seg))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"{seg}: 2 records, 0 damaged regions, 0 damaged bytes",
        "total: 1 segments, 2 records, 0 damaged regions, 0 damaged bytes",
    ]


def test_verify_damaged_segment_prints_the_region_and_exits_1(tmp_path):
    recs = [record(0), record(1, b'{"b": 22222}'), record(2)]
    seg = write_segment(tmp_path / "spool", recs)
    data = bytearray(seg.read_bytes())
    start, length = frame_len(recs[0]), frame_len(recs[1])
    data[start + length - 8] ^= 0xFF                 # a body byte of the second frame
    seg.write_bytes(bytes(data))
    code, out, _ = run("spool", "verify", str(seg))
    assert code == 1
    assert out.splitlines() == [
        f"{seg}: 2 records, 1 damaged regions, {length} damaged bytes",
        f"  damaged: offset {start}, length {length}",
        f"total: 1 segments, 2 records, 1 damaged regions, {length} damaged bytes",
    ]


def test_verify_defaults_to_the_data_dirs_spool(tmp_path):
    root = tmp_path / "spool"
    sealed = write_segment(root, [record(0)])
    current = write_segment(root, [record(1), record(2)], seal=False)
    with open(current, "ab") as f:
        f.write(b"torn tail")                        # a write in flight
    code, out, _ = run("spool", "verify", "--data-dir", str(tmp_path))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"{sealed}: 1 records, 0 damaged regions, 0 damaged bytes"
    assert lines[1] == f"{current}: 2 records, 1 damaged regions, 9 damaged bytes"
    assert lines[-1] == "total: 2 segments, 3 records, 1 damaged regions, 9 damaged bytes"
    # A directory argument means the same segments.
    assert run("spool", "verify", str(root))[1] == out


def test_verify_missing_path_is_a_usage_error(tmp_path):
    code, out, err = run("spool", "verify", str(tmp_path / "nope.seg"))
    assert code == 2 and out == ""
    assert err == f"appliance: {tmp_path / 'nope.seg'}: no such file or directory\n"


# -- spool dump ---------------------------------------------------------------

def test_dump_prints_one_json_line_per_record(tmp_path):
    recs = [
        record(0, b'{"x": "\xc3\xa9"}', headers={"User-Agent": "Firefox/23"},
               client_ip="192.0.2.9"),
        record(1, gzip.compress(b"{}")),
    ]
    seg = write_segment(tmp_path / "spool", recs)
    code, out, err = run("spool", "dump", str(seg))
    assert (code, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [
        {"id": recs[0].record_id.hex(), "received_ns": NS,
         "received": "2023-11-14T22:13:20.123456Z", "path": "/submit/telemetry/doc0",
         "headers": {"User-Agent": "Firefox/23"}, "client_ip": "192.0.2.9",
         "body_length": len(recs[0].body)},
        {"id": recs[1].record_id.hex(), "received_ns": NS + 1,
         "received": "2023-11-14T22:13:20.123456Z", "path": "/submit/telemetry/doc1",
         "headers": {}, "body_length": len(recs[1].body)},
    ]
    assert list(lines[0]) == ["id", "received_ns", "received", "path", "headers",
                              "client_ip", "body_length"]


def test_dump_body_text_or_base64(tmp_path):
    zipped = gzip.compress(b'{"a": 1}')
    recs = [record(0, '{"x": "é"}'.encode()), record(1, zipped), record(2, b"\xff\xfe\x00")]
    seg = write_segment(tmp_path / "spool", recs)
    code, out, _ = run("spool", "dump", str(seg), "--body")
    assert code == 0
    text, gz, binary = (json.loads(line) for line in out.splitlines())
    assert text["body"] == '{"x": "é"}' and "body_encoding" not in text
    assert gz["body_encoding"] == "base64" and base64.b64decode(gz["body"]) == zipped
    assert binary["body_encoding"] == "base64"
    assert base64.b64decode(binary["body"]) == b"\xff\xfe\x00"
    assert text["body_length"] == len('{"x": "é"}'.encode())


def test_dump_of_a_damaged_segment_prints_the_good_records_then_exits_1(tmp_path):
    seg = write_segment(tmp_path / "spool", [record(0), record(1)])
    with open(seg, "ab") as f:
        f.write(b"\x00" * 30)
    code, out, _ = run("spool", "dump", str(tmp_path / "spool"))
    assert code == 1
    assert [json.loads(line)["path"] for line in out.splitlines()] == [
        "/submit/telemetry/doc0", "/submit/telemetry/doc1"]


# -- import ------------------------------------------------------------------

def v1(ms: int, path: str, body: bytes) -> bytes:
    p = path.encode()
    return struct.pack("<BHIQ", 0x1E, len(p), len(body), ms) + p + body


def v2(ms: int, path: str, body: bytes, ip: str) -> bytes:
    p, i = path.encode(), ip.encode()
    return struct.pack("<BBHIQ", 0x1E, len(i), len(p), len(body), ms) + i + p + body


def spooled(data_dir) -> list[SpoolRecord]:
    spool = SpoolDir(data_dir / "spool")
    assert not spool.current.exists(), "import must seal the segment it wrote"
    return [r for seg in spool.sealed_segments() for r in read_segment(seg)]


def test_import_v2_log(tmp_path):
    bodies = [gzip.compress(b'{"n": %d}' % i) for i in range(3)]
    log = tmp_path / "telemetry.log.v2.host.1.2"
    log.write_bytes(b"".join(v2(MS + i, f"doc{i}/saved-session/Firefox/23.0/release/2013",
                                b, f"10.0.0.{i}") for i, b in enumerate(bodies)))
    code, out, err = run("import", str(log), "--data-dir", str(tmp_path / "data"))
    assert (code, err) == (0, "")
    spool_root = (tmp_path / "data" / "spool").resolve()
    assert out.splitlines() == [
        f"{log}: 3 records ({sum(map(len, bodies))} bytes) imported, "
        f"0 bytes skipped in 0 damaged regions [v2 raw log]",
        f"sealed the spool segment in {spool_root}",
    ]
    records = spooled(tmp_path / "data")
    assert [(r.received_ns, r.path, r.client_ip, r.headers, r.body) for r in records] == [
        ((MS + i) * 1_000_000, f"doc{i}/saved-session/Firefox/23.0/release/2013",
         f"10.0.0.{i}", {}, b) for i, b in enumerate(bodies)]
    assert len({r.record_id for r in records}) == 3


def test_import_reports_skipped_bytes_and_exits_1(tmp_path):
    first, second = v1(MS, "a", b'{"a": 1}'), v1(MS + 1, "b", b'{"b": 2}')
    log = tmp_path / "damaged.log"
    log.write_bytes(b"JUNK" + first + b"\x1e\x00\x00garbage" + second + second[:20])
    code, out, _ = run("import", str(log), "--data-dir", str(tmp_path / "data"))
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (f"{log}: 2 records (16 bytes) imported, "
                        f"34 bytes skipped in 3 damaged regions [v1 raw log]")
    assert lines[1:4] == [
        "  skipped 4 bytes at offset 0",
        f"  skipped 10 bytes at offset {4 + len(first)}",
        f"  skipped 20 bytes at offset {14 + len(first) + len(second)}: "
        "a truncated final record",
    ]
    assert [r.path for r in spooled(tmp_path / "data")] == ["a", "b"]


def test_import_refuses_a_file_that_is_not_a_raw_log_before_writing(tmp_path):
    good = tmp_path / "good.log"
    good.write_bytes(v1(MS, "a", b"{}"))
    bad = tmp_path / "notes.txt"
    bad.write_text("hello, this is not a raw log\n")
    code, out, err = run("import", str(good), str(bad), "--data-dir", str(tmp_path / "d"))
    assert (code, out) == (2, "")
    assert err.startswith(f"appliance: {bad}: not a raw telemetry log")
    assert not (tmp_path / "d").exists()
    code, _, err = run("import", str(tmp_path / "missing.log"), "--data-dir", str(tmp_path))
    assert code == 2
    assert err == f"appliance: {tmp_path / 'missing.log'}: No such file or directory\n"


def test_import_gzip_log_and_several_files(tmp_path):
    plain = tmp_path / "one.log"
    plain.write_bytes(v1(MS, "p1", b'{"p": 1}'))
    packed = tmp_path / "two.log.gz"
    packed.write_bytes(gzip.compress(v1(MS, "p2", b'{"p": 2}') + v1(MS, "p3", b'{"p": 3}')))
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    code, out, _ = run("import", str(plain), str(packed), str(empty),
                       "--data-dir", str(tmp_path / "d"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].endswith("1 records (8 bytes) imported, 0 bytes skipped in 0 damaged "
                             "regions [v1 raw log]")
    assert lines[1].endswith("2 records (16 bytes) imported, 0 bytes skipped in 0 damaged "
                             "regions [v1 raw log, gzip]")
    assert lines[2] == f"{empty}: 0 records (0 bytes) imported, 0 bytes skipped in 0 " \
                       "damaged regions [empty raw log]"
    assert lines[-1] == "total: 3 records (24 bytes) imported, 0 bytes skipped"
    assert [r.path for r in spooled(tmp_path / "d")] == ["p1", "p2", "p3"]


@pytest.mark.parametrize("durability, syncs", [("fsync", 3), ("none", 0)])
def test_import_batches_and_durability(tmp_path, monkeypatch, durability, syncs):
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(v1(MS + i, f"d{i}", b"[%d]" % i) for i in range(600)))
    calls = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (calls.append(fd), real(fd))[1])
    monkeypatch.setenv("APPLIANCE_SPOOL_DURABILITY", durability)
    code, out, _ = run("import", str(log), "--data-dir", str(tmp_path / "d"))
    assert code == 0, out
    assert len(calls) == syncs                   # 256 + 256 + 88 records, one sync each
    records = spooled(tmp_path / "d")
    assert [r.body for r in records] == [b"[%d]" % i for i in range(600)]


def test_import_write_failure_exits_1(tmp_path, monkeypatch):
    log = tmp_path / "x.log"
    log.write_bytes(v1(MS, "a", b"{}") + v1(MS + 1, "b", b"{}"))
    real_append = SegmentAppender.append

    def fail_after_one(self, records):
        result = real_append(self, records[:1])
        return AppendResult(acked=result.acked, error=OSError(errno.ENOSPC, "No space left"))

    monkeypatch.setattr(SegmentAppender, "append", fail_after_one)
    code, out, _ = run("import", str(log), "--data-dir", str(tmp_path / "d"))
    assert code == 1
    assert out.splitlines()[0] == (
        f"{log}: spool write failed after 1 records were imported (the rest of this file "
        "and later files were not): [Errno 28] No space left")
    assert [r.path for r in spooled(tmp_path / "d")] == ["a"]
