"""A converter worker reads the records it is handed from the sealed segments, exactly as the
committer read them, and refuses bytes that are not the frame it was told of."""

from __future__ import annotations

import pytest

from appliance.convert.segframes import SegmentFrames
from appliance.spool import RecordIds, SegmentAppender, SpoolDir, SpoolRecord
from appliance.spool.frame import FrameError
from appliance.spool.reader import iter_frames


def sealed(tmp_path, batches: list[list[bytes]]) -> tuple[SpoolDir, list]:
    """One sealed segment a batch; (segment name, offset, end, record) of every frame."""
    spool = SpoolDir(tmp_path / "spool")
    spool.create()
    appender = SegmentAppender(spool, max_segment_bytes=1 << 30, max_segment_age=3600,
                               fsync=False)
    ids = RecordIds()
    for bodies in batches:
        appender.append([SpoolRecord(ids.next(), 1_795_000_000 * 10**9 + i, "/submit/x", body)
                         for i, body in enumerate(bodies)])
        appender.rotate()
    frames = [(segment.name, offset, end, record) for segment in spool.sealed_segments()
              for offset, end, record in iter_frames(segment.read_bytes())]
    return spool, frames


def test_records_read_by_place_are_the_committers_across_segments(tmp_path):
    spool, frames = sealed(tmp_path, [[b"a", b"b" * 5000], [b"c"]])
    reader = SegmentFrames(spool.root)
    try:
        assert [reader.read(name, offset, end) for name, offset, end, _ in frames] == \
            [record for *_, record in frames]
        name, offset, end, record = frames[0]
        assert reader.read(name, offset, end) == record  # back to an earlier segment
    finally:
        reader.close()


def test_bytes_that_are_not_the_frame_named_are_refused(tmp_path):
    spool, frames = sealed(tmp_path, [[b"a", b"b"]])
    (name, offset, end, _), (_, _, last, _) = frames
    reader = SegmentFrames(spool.root)
    try:
        with pytest.raises(FrameError, match=f"{name} offset {offset}: the frame ends at {end}"):
            reader.read(name, offset, last)  # two frames
        with pytest.raises(FrameError, match=f"not at {end - 1}"):
            reader.read(name, offset, end - 1)
        segment = spool.root / name
        data = bytearray(segment.read_bytes())
        data[end - 5] ^= 0xFF  # in the first frame's body
        segment.write_bytes(bytes(data))
        reader.close()  # reopened: the changed file
        with pytest.raises(FrameError, match="checksum"):
            reader.read(name, offset, end)
    finally:
        reader.close()
