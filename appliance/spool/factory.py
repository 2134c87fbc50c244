"""Building a process's spool writer and disk guard from the configuration."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IReactorFromThreads, IReactorTime

from appliance.config import Config
from appliance.disk import DiskGuard
from appliance.spool.appender import SegmentAppender
from appliance.spool.record import SpoolRecord
from appliance.spool.segments import SpoolDir
from appliance.spool.writer import SpoolWriter
from appliance.stats import Stats


def spool_writer(config: Config, spool: SpoolDir, reactor: IReactorFromThreads, stats: Stats,
                 on_acked: Callable[[list[SpoolRecord]], None] | None = None) -> SpoolWriter:
    """A (not yet started) writer appending to `spool` with the configured limits."""
    cfg = config.spool
    appender = SegmentAppender(spool, max_segment_bytes=cfg.max_segment_bytes,
                               max_segment_age=cfg.max_segment_age,
                               fsync=cfg.durability == "fsync")
    return SpoolWriter(appender, reactor, stats, max_batch_bytes=cfg.max_batch_bytes,
                       max_pending_bytes=cfg.max_pending_bytes, on_acked=on_acked)


def disk_guard(config: Config, spool: SpoolDir, reactor: IReactorTime) -> DiskGuard:
    """A (not yet started) free-space guard for the spool's file system."""
    cfg = config.spool
    return DiskGuard(spool.root, min_free_bytes=cfg.min_free_bytes,
                     min_free_percent=cfg.min_free_percent, clock=reactor,
                     interval=cfg.disk_check_interval)
