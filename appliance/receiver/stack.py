"""The receiver stack of one process: spool writer, disk guard, connection factory, port.

`appliance serve` runs one in-process, and each receiver child (`[receiver]
processes` > 1) runs its own; both start it, listen with it and drain it the
same way. Stopping drains in order: close the port, answer the requests in
flight (each after its fsync) and close their connections, stop the disk
guard, then write what is queued.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.interfaces import IListeningPort

from appliance.config import Config
from appliance.datadir import DataDir
from appliance.lifecycle import Deadline
from appliance.reactortype import IServiceReactor
from appliance.receiver.factory import receiver_factory
from appliance.spool import SpoolDir
from appliance.spool.factory import disk_guard, spool_writer
from appliance.spool.record import SpoolRecord
from appliance.stats import Stats


class ReceiverStack:
    """One process's receiver, built from the configuration (see the module docstring)."""

    def __init__(self, config: Config, reactor: IServiceReactor, stats: Stats,
                 on_acked: Callable[[list[SpoolRecord]], None] | None = None):
        spool = SpoolDir(DataDir(config.data_dir).spool)
        self.writer = spool_writer(config, spool, reactor, stats, on_acked=on_acked)
        self.disk = disk_guard(config, spool, reactor)
        self.disk.watch(self.writer.probe_if_failing)  # /status recovers with no submission
        self.factory = receiver_factory(config, self.writer, self.disk, stats, reactor)
        self._port: IListeningPort | None = None

    def start(self) -> None:
        """Start the spool writer and the disk guard (before anything listens)."""
        self.writer.start()
        self.disk.start()

    def serve(self, port: IListeningPort) -> None:
        """`port` listens with `self.factory` (perhaps wrapped for TLS): stop closes it."""
        self._port = port

    async def stop(self, deadline: Deadline) -> bool:
        """Drain within `deadline`; connections still open when it runs out are cut.
        True if the spool writer has stopped (nothing more is appended or counted)."""
        if self._port is not None:
            stopped = self._port.stopListening()
            if stopped is not None:
                await stopped
            self._port = None
        if not await deadline.wait(self.factory.drain(), "client connections"):
            self.factory.abort()
        self.disk.stop()
        return await deadline.wait(self.writer.stop(), "the spool writer")
