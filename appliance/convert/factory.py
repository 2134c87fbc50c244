"""Building the converter's parts from the configuration."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.config import Config
from appliance.convert.loop import ConverterLoop
from appliance.convert.records import RecordConverter
from appliance.convert.specs import SpecStore
from appliance.convert.storespace import StoreSpace
from appliance.convert.workers import ConverterPool
from appliance.datadir import DataDir
from appliance.node import node_identity
from appliance.spool import SpoolDir
from appliance.storage.factory import telemetry_schema


def spec_dir(config: Config) -> Path:
    """Where histogram specs live: `[histograms] spec_dir` or `<data_dir>/histograms`."""
    configured = config.histograms.spec_dir
    return Path(configured).expanduser() if configured else DataDir(config.data_dir).histograms


def record_converter(config: Config, specs: Path | None = None) -> RecordConverter:
    """A RecordConverter with the configured specs, schema and limits."""
    directory = specs or spec_dir(config)
    cfg = config.histograms
    store = SpecStore(directory, server_url=cfg.server_url or None, cache_dir=directory / "cache",
                      timeout=cfg.timeout, retry_after=cfg.retry_after)
    return RecordConverter(store, telemetry_schema(config),
                           max_decompressed_bytes=config.receiver.max_decompressed_bytes)


def store_space(config: Config) -> StoreSpace:
    """The converter's free-space check: half the spool's watermark (storespace.py)."""
    spool = config.spool
    return StoreSpace(DataDir(config.data_dir).store, min_free_bytes=spool.min_free_bytes // 2,
                      min_free_percent=spool.min_free_percent / 2,
                      interval=spool.disk_check_interval)


def converter_processes(config: Config) -> int:
    """`[converter] processes`, with 0 (auto) as the number of CPU cores this process may use."""
    return config.converter.processes or len(os.sched_getaffinity(0))


def converter_loop(config: Config, on_report=None) -> ConverterLoop:
    """The loop that converts the data dir's spool into its store: with worker processes
    when `[converter] processes` is 2 or more (workers.py)."""
    store, node_id = DataDir(config.data_dir).store, node_identity(config).name
    level, max_file_bytes = config.store.compression_level, config.store.max_file_bytes
    processes = converter_processes(config)
    pool = (ConverterPool(config, processes, make_converter=record_converter,
                          spool_root=DataDir(config.data_dir).spool, store_root=store,
                          node_id=node_id, level=level,
                          max_file_bytes=max_file_bytes) if processes >= 2 else None)
    return ConverterLoop(
        SpoolDir(DataDir(config.data_dir).spool), store, record_converter(config), node_id=node_id,
        level=level, max_file_bytes=max_file_bytes, max_file_age=config.store.max_file_age,
        on_report=on_report, space=store_space(config), pool=pool)
