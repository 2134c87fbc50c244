"""`appliance serve`: every service of one node on one reactor (DESIGN 2).

In this process: the spool writer and disk guard, the receiver (or, with
`[receiver] processes` > 1, a pool of receiver children on the same port),
the reconciliation ledger, the exporter and its node registration in the
bucket, the job pool and the admin API. In child processes it supervises:
the converter (`[converter] processes` workers of its own) and one process
per running job. docs/architecture.md draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    SSL4ServerEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
)
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.logger import Logger

from appliance import __version__
from appliance.admin.exposure import check_admin_listen
from appliance.admin.service import AdminService
from appliance.config import Config, parse_listen
from appliance.convert.factory import spec_dir
from appliance.convert.service import ConverterService
from appliance.datadir import DataDir
from appliance.disk import DiskGuard
from appliance.export.exporter import Exporter
from appliance.export.factory import build_exporter
from appliance.iothread import IOThread
from appliance.jobs.pool import JobPool
from appliance.ledger.monitor import LedgerMonitor
from appliance.lifecycle import Deadline
from appliance.listening import listen
from appliance.logs import LogFile
from appliance.node import node_identity
from appliance.node.registry import CloneWatch, Registration
from appliance.reactortype import IServiceReactor
from appliance.receiver.factory import tls_files
from appliance.receiver.pool import ReceiverPool
from appliance.receiver.stack import ReceiverStack
from appliance.receiver.tls import fingerprint, server_options
from appliance.selfcmd import CONVERTER_WORKER, JOB_WORKER, RECEIVER_WORKER, self_command
from appliance.spool import SpoolDir, SpoolWriter
from appliance.spool.fscheck import refuse_unsafe_filesystem
from appliance.stats import Stats
from appliance.storage.factory import schema_registry

log = Logger()
WAITING = "waiting for this node's registration in the bucket"  # why exports wait at start


@dataclass(frozen=True)
class Listening:
    """Where the public port ended up, for the ready message."""

    url: str
    fingerprint: str | None
    cert_created: bool


class Server:
    """Builds and runs every service of one node on the given reactor."""

    def __init__(self, config: Config, reactor: IServiceReactor, log_file: LogFile | None = None):
        self.config = config
        self.log_file = log_file  # the LogFile of `appliance serve`: it follows the watermark
        self.reactor = reactor
        self.data_dir: Path = config.data_dir
        self.stats = Stats(reactor.seconds)
        self.node = node_identity(config)  # creates node.json at the first start
        self.node_id = self.node.id
        self.node_label = self.node.label
        if self.node.created:
            log.info("this data dir's node id is now {id} (its first start, or the first "
                     "since node ids were introduced); keys carry {name}",
                     id=self.node.id, name=self.node.name)
        self.receiving: ReceiverStack | None = None  # this process's writer, disk guard, port
        self.receivers: ReceiverPool | None = None  # with [receiver] processes > 1
        self.converter: ConverterService | None = None
        self.exporter: Exporter | None = None
        self.ledger: LedgerMonitor | None = None
        self.admin: AdminService | None = None
        self.jobs: JobPool | None = None
        self.jobs_io = IOThread(reactor, "jobs-io")  # the job pool's rmtree and state writes
        self.registry: CloneWatch | None = None  # with export on: clone detection

    @property
    def writer(self) -> SpoolWriter | None:
        """This process's spool writer (idle with receiver children: they have their own)."""
        return self.receiving.writer if self.receiving is not None else None

    @property
    def disk(self) -> DiskGuard | None:
        """The spool file system's free-space guard."""
        return self.receiving.disk if self.receiving is not None else None

    async def start(self) -> Listening:
        """Open the spool, start the writer and the disk guard, then listen."""
        cfg = self.config
        exposed = check_admin_listen(cfg.admin.listen, cfg.admin.allow_remote)  # before anything
        if exposed:
            log.warn("{warning}", warning=exposed)
        spool = SpoolDir(DataDir(self.data_dir).spool)
        spool.create()
        spec_dir(cfg).mkdir(parents=True, exist_ok=True)  # where `appliance specs add` installs
        refuse_unsafe_filesystem(spool.root)
        recovered = spool.recover()
        if recovered:
            log.info("sealed {n} segment(s) left half-sealed by a crash", n=len(recovered))
        if cfg.spool.durability != "fsync":
            log.warn("spool durability is {mode}: a 200 does NOT survive a crash",
                     mode=cfg.spool.durability)
        schemas = schema_registry(cfg)
        self.ledger = LedgerMonitor(self.reactor, self.data_dir, spool, schemas,
                                    export_enabled=cfg.export.enabled,
                                    interval=cfg.admin.ledger_interval, node_id=self.node_id)
        await self.ledger.open()
        self.receiving = receiving = ReceiverStack(cfg, self.reactor, self.stats,
                                                   on_acked=self.ledger.accepted.count)
        if self.log_file is not None:
            self.log_file.watch(receiving.disk)
        receiving.start()
        if cfg.export.enabled:
            self.exporter = build_exporter(self.config, self.reactor, self.stats,
                                           ledger=self.ledger.exported)
            self.exporter.hold(WAITING)
            self.registry = self._clone_watch(self.exporter)
            self.exporter.start()
            self.registry.start()
        if cfg.converter.enabled:
            self.converter = ConverterService(self.reactor, self._worker_argv(CONVERTER_WORKER),
                                              self.stats)
            self.converter.start()
        self.ledger.start()
        if cfg.jobs.enabled:
            self.jobs_io.start()
            self.jobs = JobPool(self.reactor, DataDir(self.data_dir).jobs,
                                self._worker_argv(JOB_WORKER),
                                max_running=cfg.jobs.max_running,
                                default_timeout=cfg.jobs.timeout, keep=cfg.jobs.keep,
                                schemas=schemas, disk=self.disk, io=self.jobs_io)
            await self.jobs.start()
        self.admin = AdminService(self)
        await self.admin.start()
        return await self._listen(receiving)

    def _clone_watch(self, exporter: Exporter) -> CloneWatch:
        """Registers the node id in the bucket; holds `exporter` until the registration is
        confirmed, and for good if another live data dir claims the id."""
        export = self.config.export
        registration = Registration(exporter.uploader.client, export.bucket, export.prefix,
                                    self.node.id, self.node.label, wall=self.reactor.seconds)

        def changed() -> None:
            if watch.problem:
                exporter.hold("another live data dir claims this node id (a clone: see health)")
            else:
                exporter.hold(None if watch.confirmed else WAITING)

        watch = CloneWatch(self.reactor, registration, export.interval, changed)
        return watch

    def _worker_argv(self, subcommand: str) -> list[str]:
        argv = [*self_command(), subcommand, "--data-dir", str(self.data_dir)]
        if self.config.source is not None:
            argv += ["--config", str(self.config.source)]
        return argv

    async def _listen(self, receiving: ReceiverStack) -> Listening:
        cfg = self.config.receiver
        host, port = parse_listen(cfg.listen)
        fp, created, tls = None, False, None
        if cfg.tls:
            cert, key, created = tls_files(self.config)
            fp = fingerprint(cert)
            tls = (cert, key)
        if cfg.processes > 1:
            port = await self._start_receivers(host, port, tls)
        else:
            port = await self._listen_here(receiving, host, port, tls)
        shown = f"[{host}]" if ":" in host else host
        url = f"{'https' if cfg.tls else 'http'}://{shown}:{port}"
        log.info("appliance {version} node {node} listening on {url}", version=__version__,
                 node=self.node.name, url=url, fingerprint=fp)
        return Listening(url, fp, created)

    async def _listen_here(self, receiving: ReceiverStack, host: str, port: int,
                           tls: tuple[Path, Path] | None) -> int:
        """Serve the public port in this process with `receiving`; returns the port."""
        endpoint: IStreamServerEndpoint
        if tls is not None:
            options = server_options(*tls, self.config.receiver.tls_ciphers)
            endpoint = SSL4ServerEndpoint(self.reactor, port, options, interface=host)
        elif ":" in host:
            endpoint = TCP6ServerEndpoint(self.reactor, port, interface=host)
        else:
            endpoint = TCP4ServerEndpoint(self.reactor, port, interface=host)
        listening = await listen("[receiver] listen", self.config.receiver.listen, endpoint,
                                 receiving.factory)
        receiving.serve(listening)
        # a TCP or SSL endpoint's port: an IPv4Address or IPv6Address, which have a port
        return cast(IPv4Address | IPv6Address, listening.getHost()).port

    async def _start_receivers(self, host: str, port: int,
                               tls: tuple[Path, Path] | None) -> int:
        """`[receiver] processes` children on the public port; returns the port."""
        argv = self._worker_argv(RECEIVER_WORKER)
        if tls is not None:
            argv += ["--cert", str(tls[0]), "--key", str(tls[1])]
        self.receivers = ReceiverPool(
            self.reactor, argv, self.config.receiver.processes, self.stats,
            on_acked=self.ledger.accepted.count if self.ledger is not None else None)
        return await self.receivers.start(host, port)

    async def stop(self) -> list[str]:
        """Drain within `[server] shutdown_timeout`; returns the steps given up on.

        Stop listening; answer the requests in flight (each after its fsync)
        and close their connections; write what is queued; meanwhile the
        converter commits at a record boundary and uploads in flight finish.
        A step still running at the deadline is abandoned: an unanswered
        client retries, an uncommitted generation or unverified upload is
        redone at the next start.
        """
        deadline = Deadline(self.reactor, self.config.server.shutdown_timeout)
        if self.admin is not None:
            await self.admin.stop()
        jobs = Deferred.fromCoroutine(self.jobs.stop()) if self.jobs is not None else None
        # Whether every record appended to the spool was counted as accepted: the save at
        # the stop may then list the spool (appliance.ledger.accepted).
        counted = True
        if self.receivers is not None:
            counted = (await deadline.wait(self.receivers.stop(), "receiver processes")
                       and self.receivers.reported_all)
        converter = self.converter.stop() if self.converter is not None else None
        exporter = (Deferred.fromCoroutine(self.exporter.stop())
                    if self.exporter is not None else None)
        if self.receiving is not None:
            counted = await self.receiving.stop(deadline) and counted
        if self.ledger is not None:
            await self.ledger.stop(counted)  # after the writer: its last counts are saved
        if converter is not None:
            await deadline.wait(converter, "the converter's commit")
        if exporter is not None:
            await deadline.wait(exporter, "uploads in flight")
        if self.registry is not None:
            await deadline.wait(Deferred.fromCoroutine(self.registry.stop()),
                                "the node registration")
        if jobs is not None:
            await deadline.wait(jobs, "job workers")
            self.jobs_io.stop()  # joins its thread once the file work queued is done
        return deadline.missed
