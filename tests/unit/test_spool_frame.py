"""The spool frame and reader: round trip, the damage table, and a reader fuzz test.

The reader's contract (DESIGN 3.2, RELIABILITY.md): damage never stops a read;
only the damaged records are lost, every later record is recovered, and each
maximal damaged run of bytes is reported as exactly one DamagedRegion.
"""

from __future__ import annotations

import pickle
import random
import struct

import google_crc32c
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.spool import frame
from appliance.spool.frame import HEADER_SIZE, MAGIC, FrameError, decode_at, decode_header, encode
from appliance.spool.reader import DamagedRegion, ReadReport, iter_buffer, read_segment
from appliance.spool.record import RecordIds, SpoolRecord

# -- helpers ------------------------------------------------------------------


def make_record(i: int, body: bytes, *, path: str = "/submit/telemetry/x", headers=None,
                client_ip: str | None = "192.0.2.1") -> SpoolRecord:
    return SpoolRecord(
        record_id=b"test-ids" + struct.pack(">Q", i),
        received_ns=1_700_000_000_000_000_000 + i,
        path=path,
        body=body,
        headers=headers if headers is not None else {"content-type": "application/json"},
        client_ip=client_ip,
    )


def frame_bytes(record: SpoolRecord) -> bytes:
    return b"".join(encode(record))


def build(records: list[SpoolRecord]) -> tuple[bytearray, list[tuple[int, int]]]:
    """Concatenate the frames; return the buffer and each frame's (start, end)."""
    buf = bytearray()
    spans = []
    for r in records:
        start = len(buf)
        buf += frame_bytes(r)
        spans.append((start, len(buf)))
    return buf, spans


def read(buf) -> tuple[list[tuple[int, SpoolRecord]], ReadReport]:
    report = ReadReport()
    got = list(iter_buffer(bytes(buf), report))
    assert report.records == len(got)
    return got, report


def assert_tiles(buf, got, report) -> None:
    """Good frames and damaged regions partition the buffer; regions are maximal."""
    pieces = [(off, off + frame.frame_size(r), "good") for off, r in got]
    pieces += [(d.offset, d.offset + d.length, "bad") for d in report.damaged]
    pieces.sort()
    pos = 0
    prev_kind = None
    for start, end, kind in pieces:
        assert start == pos, f"gap or overlap at {pos}: {pieces}"
        assert end > start
        assert not (kind == "bad" and prev_kind == "bad"), "two adjacent regions: not maximal"
        pos, prev_kind = end, kind
    assert pos == len(buf)


def records_of(n: int, seed: int = 1, lo: int = 0, hi: int = 700) -> list[SpoolRecord]:
    rnd = random.Random(seed)
    return [make_record(i, rnd.randbytes(rnd.randint(lo, hi))) for i in range(n)]


# -- round trip ---------------------------------------------------------------


@pytest.mark.parametrize("record", [
    make_record(0, b""),
    make_record(1, b'{"a": 1}'),
    make_record(2, bytes(range(256)) * 300, client_ip=None),
    make_record(3, MAGIC * 50, headers={"x-\u00e9": "\u2603 snow", "a": ""}, path="/\u00fc/p"),
    make_record(4, b"x" * 70_000, headers={}),
])
def test_round_trip(record):
    buffers = encode(record)
    if len(record.body) > frame.INLINE_BODY:
        assert len(buffers) == 3
        assert buffers[1] is record.body  # a large body is passed through, not copied
    else:
        assert len(buffers) == 1  # a small one is copied into the frame's one buffer
    data = b"".join(buffers)
    assert data[:4] == MAGIC
    assert len(data) == frame.frame_size(record)
    for prefix in (b"", b"junk before"):
        decoded, end = decode_at(prefix + data, len(prefix))
        assert decoded == record
        assert end == len(prefix) + len(data)
    decoded, end = decode_at(bytearray(data), 0)
    assert decoded == record


@given(body=st.binary(max_size=2000),
       headers=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
       path=st.text(max_size=40),
       client_ip=st.none() | st.text(max_size=15),
       received_ns=st.integers(0, 2**64 - 1),
       record_id=st.binary(min_size=16, max_size=16))
@settings(max_examples=100, deadline=None, database=None)
def test_round_trip_any_record(body, headers, path, client_ip, received_ns, record_id):
    record = SpoolRecord(record_id, received_ns, path, body, headers, client_ip)
    decoded, end = decode_at(frame_bytes(record), 0)
    assert decoded == record
    assert end == frame.frame_size(record)
    # as converter worker processes receive it (pickled as its fields)
    for protocol in (2, pickle.HIGHEST_PROTOCOL):
        assert pickle.loads(pickle.dumps(record, protocol)) == record


def test_record_ids_unique_and_16_bytes():
    ids = RecordIds()
    got = {ids.next() for _ in range(1000)}
    assert len(got) == 1000
    assert all(len(i) == 16 for i in got)
    assert RecordIds().next()[:8] != RecordIds().next()[:8]


def test_read_segment_file(tmp_path):
    records = records_of(20)
    buf, _ = build(records)
    path = tmp_path / "seg"
    path.write_bytes(bytes(buf))
    report = ReadReport()
    assert list(read_segment(path, report)) == records
    assert report.damaged == []
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert list(read_segment(empty)) == []


# -- the header CRC against a magic found by chance --------------------------


def test_header_crc_rejects_chance_magic():
    # A magic followed by a plausible header (version 1, small lengths that fit
    # in the buffer) but no matching CRC: bytes that happen to look like a frame.
    fake = struct.pack("<4sBBHIIQ16s", MAGIC, 1, 0, 0, 2, 3, 0, b"\0" * 16)
    data = fake + b"\0\0\0\0" + b"{}" + b"abc" + b"\0" * 4
    with pytest.raises(FrameError, match="header checksum"):
        decode_header(data, 0)
    with pytest.raises(FrameError):
        decode_at(data, 0)
    # With the right header CRC it would have passed the header check.
    good = fake + struct.pack("<I", google_crc32c.value(fake))
    assert decode_header(good, 0) == (2, 3, 0, b"\0" * 16)


def test_chance_magic_inside_a_body_is_not_a_frame():
    # Bodies full of magics read back normally...
    records = [make_record(i, (b"pre" + MAGIC + b"\x01\x00\x00\x00" + b"z" * 40) * 5)
               for i in range(5)]
    buf, spans = build(records)
    got, report = read(buf)
    assert [r for _, r in got] == records
    assert report.damaged == []
    # ...and when such a record is damaged, the reader tries each chance magic in
    # it, the header CRC rejects every one, and the damage is still one region.
    start, end = spans[2]
    buf[end - 10] ^= 0x40
    got, report = read(buf)
    assert [r for _, r in got] == records[:2] + records[3:]
    assert report.damaged == [DamagedRegion(start, end - start)]
    assert_tiles(buf, got, report)


def test_wrong_version_and_implausible_lengths_rejected():
    record = make_record(0, b"body")
    data = bytearray(frame_bytes(record))
    for offset, value in ((4, struct.pack("<B", 2)), (8, struct.pack("<I", (1 << 20) + 1)),
                          (12, struct.pack("<I", (1 << 30) + 1))):
        bad = bytearray(data)
        bad[offset:offset + len(value)] = value
        head = bytes(bad[:40])
        bad[40:44] = struct.pack("<I", google_crc32c.value(head))  # header CRC made to match
        with pytest.raises(FrameError):
            decode_at(bytes(bad), 0)


def test_oversized_record_refused():
    with pytest.raises(FrameError):
        encode(make_record(0, b"", headers={"h": "x" * (1 << 20)}))


# -- the damage table -----------------------------------------------------------


def test_clean_buffer():
    records = records_of(30)
    buf, spans = build(records)
    got, report = read(buf)
    assert got == [(s, r) for (s, _), r in zip(spans, records, strict=True)]
    assert report.damaged == []


def _check_damage(buf, records, lost: set[int], regions: list[DamagedRegion]):
    got, report = read(buf)
    assert [r for _, r in got] == [r for i, r in enumerate(records) if i not in lost]
    assert report.damaged == regions
    assert_tiles(buf, got, report)


@pytest.mark.parametrize("where", ["header", "meta", "body", "trailer"])
def test_bit_flip(where):
    records = records_of(12)
    buf, spans = build(records)
    k = 5
    start, end = spans[k]
    meta_len = len(frame.encode_meta(records[k]))
    offset = {"header": start + 20, "meta": start + HEADER_SIZE + 1,
              "body": start + HEADER_SIZE + meta_len + len(records[k].body) // 2,
              "trailer": end - 2}[where]
    buf[offset] ^= 0x08
    _check_damage(buf, records, {k}, [DamagedRegion(start, end - start)])


@pytest.mark.parametrize("field_offset", [8, 12])  # meta length, body length
def test_overwritten_length_field(field_offset):
    records = records_of(12)
    buf, spans = build(records)
    k = 4
    start, end = spans[k]
    buf[start + field_offset:start + field_offset + 4] = struct.pack("<I", 17)
    _check_damage(buf, records, {k}, [DamagedRegion(start, end - start)])


def test_overwritten_length_with_magic_and_crc_fixed_is_still_caught():
    # Even if the header CRC is rewritten to match, the trailer CRC catches it.
    records = records_of(12)
    buf, spans = build(records)
    k = 4
    start, end = spans[k]
    body_len = len(records[k].body)
    buf[start + 12:start + 16] = struct.pack("<I", body_len - 3)
    head_crc = google_crc32c.value(bytes(buf[start:start + 40]))
    buf[start + 40:start + 44] = struct.pack("<I", head_crc)
    _check_damage(buf, records, {k}, [DamagedRegion(start, end - start)])


def test_zeroed_page_spanning_records():
    records = records_of(40, lo=100, hi=900)
    buf, spans = build(records)
    page = 4096 * 2
    buf[page:page + 4096] = bytes(4096)
    hit = {i for i, (s, e) in enumerate(spans) if s < page + 4096 and e > page}
    assert len(hit) >= 3  # the page spans several records
    first, last = min(hit), max(hit)
    region = DamagedRegion(spans[first][0], spans[last][1] - spans[first][0])
    _check_damage(buf, records, hit, [region])


@pytest.mark.parametrize("garbage", [
    b"\x00garbage" + MAGIC + b"more garbage" + MAGIC,
    MAGIC + b"\x01\x00\x00\x00" + bytes(200) + MAGIC + MAGIC,
    MAGIC,
    b"\xff" * 5000 + MAGIC + b"\x01" * 60,
])
def test_garbage_with_magic_inserted_between_records(garbage):
    records = records_of(12)
    buf, spans = build(records)
    at = spans[6][0]
    buf[at:at] = garbage
    _check_damage(buf, records, set(), [DamagedRegion(at, len(garbage))])


def test_half_record_followed_by_good_records():
    # A writer killed mid-write: the first half of its frame, then other
    # writers' records.
    records = records_of(12, lo=200)
    buf, spans = build(records)
    k = 3
    start, end = spans[k]
    half = (end - start) // 2
    del buf[start + half:end]
    _check_damage(buf, records, {k}, [DamagedRegion(start, half)])


@pytest.mark.parametrize("keep", [1, 4, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 3, -1])
def test_truncated_tail(keep):
    records = records_of(8, lo=50)
    buf, spans = build(records)
    start, end = spans[-1]
    cut = start + keep if keep > 0 else end + keep
    del buf[cut:]
    _check_damage(buf, records, {7}, [DamagedRegion(start, cut - start)])


def test_several_damaged_places_one_region_each():
    records = records_of(30, lo=100)
    buf, spans = build(records)
    # Apply from the end so earlier offsets stay valid.
    del buf[spans[25][0] + 30:spans[25][1]]                 # half record
    buf[spans[17][0] + 50] ^= 1                             # bit flip
    buf[spans[10][0]:spans[10][0]] = b"junk" + MAGIC        # garbage between 9 and 10
    buf[spans[3][0] + 8:spans[3][0] + 12] = b"\xff" * 4     # length field
    got, report = read(buf)
    assert {r.record_id for _, r in got} == {
        r.record_id for i, r in enumerate(records) if i not in (3, 17, 25)}
    assert report.damaged_regions == 4
    assert_tiles(buf, got, report)


def test_damage_at_the_start_and_adjacent_records():
    records = records_of(10)
    buf, spans = build(records)
    # Two adjacent damaged records make one region.
    buf[spans[0][0] + 45] ^= 1
    buf[spans[1][0] + 45] ^= 1
    region = DamagedRegion(0, spans[1][1])
    _check_damage(buf, records, {0, 1}, [region])


def test_all_garbage_is_one_region():
    rnd = random.Random(7)
    data = bytearray(rnd.randbytes(20000))
    for i in range(0, 20000, 997):
        data[i:i + 4] = MAGIC
    got, report = read(data)
    assert got == []
    assert report.damaged == [DamagedRegion(0, len(data))]


# -- fuzz -------------------------------------------------------------------------

_damage = st.tuples(
    st.sampled_from(["flip", "overwrite", "insert", "delete"]),
    st.integers(0, 1 << 30),                       # offset, taken modulo the size
    st.integers(1, 255),                           # bit mask for a flip
    st.integers(1, 300),                           # length for a delete
    st.binary(min_size=1, max_size=120),           # bytes for insert/overwrite
    st.booleans(),                                 # put a magic into those bytes
)


@st.composite
def _bodies(draw):
    bodies = draw(st.lists(st.binary(max_size=400), min_size=1, max_size=12))
    # Some bodies hold magics, like a chance occurrence in real data.
    return [b + MAGIC + b[:8] if draw(st.booleans()) and i % 3 == 0 else b
            for i, b in enumerate(bodies)]


@given(bodies=_bodies(), damages=st.lists(_damage, min_size=1, max_size=4))
@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
def test_reader_fuzz(bodies, damages):
    records = [make_record(i, b) for i, b in enumerate(bodies)]
    by_id = {r.record_id: r for r in records}
    buf, spans = build(records)
    spans = [list(s) + [False] for s in spans]  # start, end, touched

    for kind, offset, mask, length, data, with_magic in damages:
        if with_magic:
            data = data[: len(data) // 2] + MAGIC + data[len(data) // 2:]
        if kind == "insert":
            at = offset % (len(buf) + 1)
            buf[at:at] = data
            for s in spans:
                if s[0] < at < s[1]:
                    s[2] = True
                if s[0] >= at:
                    s[0] += len(data)
                    s[1] += len(data)
            continue
        if not buf:
            continue
        at = offset % len(buf)
        if kind == "flip":
            lo, hi = at, at + 1
            buf[at] ^= mask
        elif kind == "overwrite":
            lo, hi = at, min(len(buf), at + len(data))
            buf[lo:hi] = data[: hi - lo]
        else:  # delete
            lo, hi = at, min(len(buf), at + length)
            del buf[lo:hi]
        for s in spans:
            if s[0] < hi and s[1] > lo:
                s[2] = True
            elif kind == "delete" and s[0] >= hi:
                s[0] -= hi - lo
                s[1] -= hi - lo

    got, report = read(buf)  # never raises

    # Nothing that was not written is yielded, and nothing twice.
    ids = [r.record_id for _, r in got]
    assert len(ids) == len(set(ids))
    for _, r in got:
        assert by_id.get(r.record_id) == r
    # Every record whose bytes are untouched is yielded, at its place.
    yielded = {r.record_id: off for off, r in got}
    for r, (start, _end, touched) in zip(records, spans, strict=True):
        if not touched:
            assert yielded.get(r.record_id) == start
    # Good frames and damaged regions cover the data; a region per damaged place at most.
    assert_tiles(buf, got, report)
    assert report.damaged_regions <= len(damages)
    if all(not s[2] for s in spans) and len(got) == len(records):
        # Only insertions between frames: each of them is a region of its own.
        assert report.damaged_bytes == len(buf) - sum(len(frame_bytes(r)) for r in records)
