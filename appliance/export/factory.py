"""Building the exporter's parts from the configuration."""

from __future__ import annotations

from appliance.config import Config
from appliance.datadir import DataDir
from appliance.export.backlog import UploadLedger
from appliance.export.exporter import Exporter
from appliance.export.uploader import Uploader
from appliance.reactortype import IServiceReactor
from appliance.stats import Stats


def build_uploader(config: Config) -> Uploader:
    """An Uploader for `[export]`; ConfigError if the section is incomplete."""
    from appliance.export.s3client import make_client  # boto3 (~0.2 s): only when exporting

    export = config.export
    return Uploader(make_client(config), export.bucket, export.prefix,
                    multipart_threshold=export.multipart_threshold,
                    part_size=export.part_size)


def build_exporter(config: Config, reactor: IServiceReactor, stats: Stats,
                   ledger: UploadLedger | None = None) -> Exporter:
    """The server's exporter loop (`ledger`: an ExportedLedger counting verified uploads)."""

    export = config.export
    retained = DataDir(config.data_dir).exported if export.retain_days > 0 else None
    return Exporter(reactor, build_uploader(config), DataDir(config.data_dir).store, stats,
                    concurrency=export.concurrency, interval=export.interval,
                    max_backoff=export.max_backoff, retained_root=retained,
                    retain_days=export.retain_days, ledger=ledger)
