"""The 2013 raw log reader: v1/v2 detection, resync past garbage, truncation, non-logs."""

from __future__ import annotations

import gzip
import json
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.spool.rawlog import (
    RawLogError,
    RawLogReport,
    RawRecord,
    detect_version,
    iter_records,
    read_raw_log,
)
from appliance.spool.reader import DamagedRegion

MS = 1_378_822_911_255  # 2013-09-10


def v1(ms: int, path: str, body: bytes) -> bytes:
    p = path.encode()
    return struct.pack("<BHIQ", 0x1E, len(p), len(body), ms) + p + body


def v2(ms: int, path: str, body: bytes, ip: str = "") -> bytes:
    p, i = path.encode(), ip.encode()
    return struct.pack("<BBHIQ", 0x1E, len(i), len(p), len(body), ms) + i + p + body


def js(n: int, size: int = 10) -> bytes:
    """A JSON body of about `size` bytes."""
    return json.dumps({"n": n, "pad": "x" * size}).encode()


def read(buf: bytes) -> tuple[list[RawRecord], RawLogReport]:
    report = RawLogReport()
    return list(iter_records(buf, report)), report


def test_v1_records_round_trip():
    bodies = [b'{"a": 1}', gzip.compress(b'{"b": 2}'), b"\x1e" * 20]
    log = b"".join(v1(MS + i, f"doc{i}/saved-session/Firefox", b) for i, b in enumerate(bodies))
    records, report = read(log)
    assert records == [RawRecord(MS + i, f"doc{i}/saved-session/Firefox", None, b)
                       for i, b in enumerate(bodies)]
    assert (report.version, report.records, report.skipped, report.damaged) == ("v1", 3, [], False)
    assert report.record_bytes == len(log)


def test_v2_records_carry_the_client_ip():
    log = (v2(MS, "d1/idle-daily", b"x" * 50, "10.1.2.3")
           + v2(MS + 1, "d2/idle-daily", b"yy", "2001:db8::1, 192.0.2.7")
           + v2(MS + 2, "d3/idle-daily", b"z", ""))
    records, report = read(log)
    assert report.version == "v2"
    assert [(r.received_ms, r.path, r.client_ip, r.body) for r in records] == [
        (MS, "d1/idle-daily", "10.1.2.3", b"x" * 50),
        (MS + 1, "d2/idle-daily", "2001:db8::1, 192.0.2.7", b"yy"),
        (MS + 2, "d3/idle-daily", None, b"z"),
    ]
    assert report.skipped == []


def test_single_record_files_are_detected_both_ways():
    assert detect_version(v1(MS, "a/b", b"body")) == "v1"
    assert detect_version(v2(MS, "a/b", b"body", "1.2.3.4")) == "v2"
    assert detect_version(v2(MS, "a/b", b"body")) == "v2"


def test_garbage_between_records_is_skipped_and_counted():
    r1, r2, r3 = v1(MS, "one", js(1, 30)), v1(MS + 5, "two", js(2)), v1(MS + 9, "three", b"3")
    junk1 = b"\x1e\x00garbage\x1e\x1e\xff" * 3        # separators with implausible headers
    junk2 = b"\n"
    log = junk2 + r1 + junk1 + r2 + r3 + junk2
    records, report = read(log)
    assert [r.path for r in records] == ["one", "two", "three"]
    assert [r.body for r in records] == [js(1, 30), js(2), b"3"]
    assert report.skipped == [
        DamagedRegion(0, 1),
        DamagedRegion(1 + len(r1), len(junk1)),
    ]
    assert report.skipped_bytes == len(junk1) + 1
    assert report.ignored_tail == 1  # a final newline is not damage
    assert not report.truncated_tail


def test_overwritten_record_is_skipped_and_the_rest_recovered():
    good = [v2(MS + i, f"p{i}", js(i, 40), "192.0.2.1") for i in range(4)]
    broken = bytearray(good[1])
    broken[8:16] = b"\xff" * 8                        # its time is now implausible
    log = good[0] + bytes(broken) + good[2] + good[3]
    records, report = read(log)
    assert [r.path for r in records] == ["p0", "p2", "p3"]
    assert report.skipped == [DamagedRegion(len(good[0]), len(broken))]


def test_record_with_a_damaged_length_does_not_swallow_the_next_ones():
    recs = [v1(MS + i, f"p{i}", js(i, 100)) for i in range(4)]
    broken = bytearray(recs[1])
    struct.pack_into("<I", broken, 3, 150)            # data length 100 -> 150
    log = recs[0] + bytes(broken) + recs[2] + recs[3]
    records, report = read(log)
    assert [(r.path, r.body) for r in records] == [
        ("p0", js(0, 100)), ("p2", js(2, 100)), ("p3", js(3, 100))]
    assert report.skipped == [DamagedRegion(len(recs[0]), len(broken))]


@pytest.mark.parametrize("cut", [1, 7, 15, 20, 40])
def test_truncated_tail(cut):
    first, last = v1(MS, "first", js(1)), v1(MS + 1, "last", js(2, 30))
    log = first + last[:cut]
    records, report = read(log)
    assert [r.path for r in records] == ["first"]
    assert report.skipped == [DamagedRegion(len(first), cut)]
    assert report.truncated_tail


def test_trailing_junk_is_not_called_truncation():
    log = v1(MS, "a", gzip.compress(b"{}")) + b"junk"
    records, report = read(log)
    assert len(records) == 1
    assert report.skipped == [DamagedRegion(len(log) - 4, 4)] and not report.truncated_tail


def test_trailing_line_endings_are_ignored_not_damage():
    log = v1(MS, "a", gzip.compress(b"{}")) + b"\r\n\n"
    records, report = read(log)
    assert len(records) == 1
    assert report.skipped == [] and report.ignored_tail == 3 and not report.damaged


def test_record_that_cannot_prove_itself_intact_before_junk_is_skipped():
    # Without a checksum, a record followed by junk instead of a record is kept
    # only if its body is whole: gzip passing its CRC, or valid JSON.
    plain, zipped = v1(MS, "plain", b"not json"), v1(MS + 1, "zipped", gzip.compress(js(1)))
    assert [r.path for r in read(plain + zipped)[0]] == ["plain", "zipped"]
    records, report = read(plain + b"junk" + zipped + b"junk")
    assert [r.path for r in records] == ["zipped"]
    assert report.skipped == [DamagedRegion(0, len(plain) + 4),
                              DamagedRegion(len(plain) + 4 + len(zipped), 4)]


@pytest.mark.parametrize("at", [0, 1, 10, -9, -1])
def test_bytes_inserted_into_a_gzip_body_are_detected(at):
    body = gzip.compress(js(7, 300))
    first = v1(MS, "first", body)
    cut = len(first) - len(body) + (at % len(body))
    damaged = first[:cut] + b"INSERTED" + first[cut:]
    after = v1(MS + 1, "after", js(8))
    records, report = read(damaged + after)
    assert [r.path for r in records] == ["after"]
    assert report.skipped == [DamagedRegion(0, len(damaged))]


def test_log_holding_only_a_cut_off_record():
    records, report = read(v2(MS, "p", js(1), "10.0.0.1")[:-3])
    assert records == [] and report.version == "v2" and report.truncated_tail


@pytest.mark.parametrize("content", [
    b"hello world, this is not a telemetry log\n",
    b'{"ver": 1, "info": {}}',
    b"\x1e" * 100,
    bytes(range(256)) * 4,
    struct.pack("<BHIQ", 0x1E, 3, 5, 12345) + b"abc" + b"12345",   # time in 1970
])
def test_not_a_raw_log(content, tmp_path):
    with pytest.raises(RawLogError, match="not a raw telemetry log"):
        read(content)
    path = tmp_path / "x.log"
    path.write_bytes(content)
    with pytest.raises(RawLogError):
        list(read_raw_log(path))


def test_empty_file_has_no_records(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    report = RawLogReport()
    assert list(read_raw_log(path, report)) == []
    assert (report.version, report.records, report.damaged) == (None, 0, False)


def test_gzip_compressed_log(tmp_path):
    log = v2(MS, "a/b", b"body-1", "10.0.0.1") + v2(MS + 1, "c/d", b"body-2", "10.0.0.2")
    path = tmp_path / "log.gz"
    path.write_bytes(gzip.compress(log))
    report = RawLogReport()
    records = list(read_raw_log(path, report))
    assert [r.body for r in records] == [b"body-1", b"body-2"]
    assert report.compressed and report.version == "v2" and not report.damaged


def test_truncated_gzip_keeps_what_decompressed(tmp_path):
    log = b"".join(v1(MS + i, f"p{i}", bytes([i]) * 1000) for i in range(50))
    packed = gzip.compress(log, compresslevel=1)
    path = tmp_path / "log.gz"
    path.write_bytes(packed[:len(packed) // 2])
    report = RawLogReport()
    records = list(read_raw_log(path, report))
    assert 0 < len(records) < 50
    assert [r.path for r in records] == [f"p{i}" for i in range(len(records))]
    assert report.gzip_error and report.damaged


def test_gzip_that_is_not_a_raw_log(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(b"just some text"))
    with pytest.raises(RawLogError, match="not a raw telemetry log"):
        list(read_raw_log(path))
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    with pytest.raises(RawLogError, match="gzip"):
        list(read_raw_log(path))


_body = st.one_of(
    st.dictionaries(st.text(max_size=5), st.integers()).map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200).map(gzip.compress),
)
_record = st.tuples(
    st.integers(1_100_000_000_000, 1_900_000_000_000),
    st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",)), max_size=30)
      .filter(lambda s: "\x7f" not in s),
    _body,
    st.sampled_from(["", "127.0.0.1", "2001:db8::7"]),
    st.binary(max_size=40),                                # garbage before this record
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_record, min_size=1, max_size=12), st.booleans())
def test_every_record_survives_garbage_between_records(items, use_v2):
    log = b""
    for ms, path, body, ip, junk in items:
        log += junk + (v2(ms, path, body, ip) if use_v2 else v1(ms, path, body))
    records, report = read(log)
    assert [(r.received_ms, r.path, r.body) for r in records] == [
        (ms, path, body) for ms, path, body, _ip, _junk in items]
    if use_v2:
        assert [r.client_ip for r in records] == [ip or None for *_, ip, _junk in items]
    assert report.skipped_bytes == sum(len(junk) for *_, junk in items)
    assert report.version == ("v2" if use_v2 else "v1")
