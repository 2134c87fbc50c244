"""What the admin API reads of the server, as a type: the server is checked against it."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from appliance.config import Config
from appliance.convert.service import ConverterService
from appliance.disk import DiskGuard
from appliance.jobs.pool import JobPool
from appliance.ledger.monitor import LedgerMonitor
from appliance.logs import LogFile
from appliance.node.registry import CloneWatch
from appliance.reactortype import IServiceReactor
from appliance.receiver.pool import ReceiverPool
from appliance.spool.writer import SpoolWriter
from appliance.stats import Stats


class ServerParts(Protocol):
    """The parts of one server the admin API shows (`appliance.server.Server` has them)."""

    config: Config
    reactor: IServiceReactor
    data_dir: Path
    stats: Stats
    node_id: str
    node_label: str
    log_file: LogFile | None
    receivers: ReceiverPool | None
    converter: ConverterService | None
    ledger: LedgerMonitor | None
    registry: CloneWatch | None
    jobs: JobPool | None

    @property
    def writer(self) -> SpoolWriter | None: ...

    @property
    def disk(self) -> DiskGuard | None: ...
