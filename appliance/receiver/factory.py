"""Building the public port's protocol factory from the configuration."""

from __future__ import annotations

from pathlib import Path

from twisted.internet.interfaces import IReactorTime

from appliance.config import Config
from appliance.datadir import DataDir
from appliance.disk import DiskGuard
from appliance.receiver.drain import DrainingFactory
from appliance.receiver.keptheaders import KeptHeaders
from appliance.receiver.protocol import Limits
from appliance.receiver.submit import SubmissionHandler
from appliance.receiver.tls import ensure_self_signed
from appliance.spool import SpoolWriter
from appliance.stats import Stats


def receiver_factory(config: Config, writer: SpoolWriter, disk: DiskGuard, stats: Stats,
                     reactor: IReactorTime) -> DrainingFactory:
    """The factory for client connections (able to drain them at shutdown): configured
    limits, the submission handler."""
    cfg = config.receiver
    limits = Limits(
        max_body_bytes=cfg.max_body_bytes, max_path_bytes=cfg.max_path_bytes,
        max_header_bytes=cfg.max_header_bytes, max_headers=cfg.max_headers,
        max_connections=cfg.max_connections,
        max_decompressed_bytes=cfg.max_decompressed_bytes,
        max_connections_per_ip=cfg.max_connections_per_ip, max_chunks=cfg.max_chunks,
        head_timeout=cfg.head_timeout, body_timeout=cfg.body_timeout,
        min_body_rate=cfg.min_body_rate)
    handler = SubmissionHandler(writer, disk, stats,
                                max_decompressed_bytes=cfg.max_decompressed_bytes,
                                store_client_ip=cfg.store_client_ip,
                                max_connections=cfg.max_connections,
                                kept_headers=KeptHeaders.from_config(cfg.keep_headers))
    return DrainingFactory(handler, limits, stats, reactor, cfg.idle_timeout)


def tls_files(config: Config) -> tuple[Path, Path, bool]:
    """(certificate, key, created now): the configured files, else the self-signed pair."""
    cfg = config.receiver
    if cfg.cert_file:
        return Path(cfg.cert_file), Path(cfg.key_file or cfg.cert_file), False
    return ensure_self_signed(DataDir(config.data_dir).tls)
