"""The durable atomic-append spool (DESIGN 3.2): frames, segments, writer and reader."""

from appliance.spool.appender import AppendResult, SegmentAppender
from appliance.spool.reader import (
    ReadReport,
    iter_buffer,
    iter_frames,
    read_segment,
    verify_segment,
)
from appliance.spool.record import RecordIds, SpoolRecord
from appliance.spool.segments import SpoolDir
from appliance.spool.writer import SpoolSaturated, SpoolWriteFailed, SpoolWriter

__all__ = [
    "AppendResult", "ReadReport", "RecordIds", "SegmentAppender", "SpoolDir", "SpoolRecord",
    "SpoolSaturated", "SpoolWriteFailed", "SpoolWriter", "iter_buffer", "iter_frames",
    "read_segment", "verify_segment",
]
