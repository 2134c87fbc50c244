"""`appliance serve`: hold the data dir, start logging, run the server (`appliance.server`:
receiver, spool, converter, exporter, ledger, jobs, admin API) until SIGINT/SIGTERM, then
drain; with `--tui`, the dashboard in this terminal."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from appliance.cli.common import CommandError, Subparsers
from appliance.config import Config
from appliance.datadir import DataDir

if TYPE_CHECKING:  # only for the annotations: Twisted and the server load when serving
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    from appliance.logs import LogFile
    from appliance.reactortype import IServiceReactor
    from appliance.server import Listening, Server


@dataclass
class Outcome:
    """How `appliance serve` ends: its exit code, and what the drain abandoned."""

    code: int = 0
    abandoned: list[str] = field(default_factory=list)


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("serve", parents=[common], help="run the node's services",
                       description="Accept submissions on the public port and spool them "
                                   "durably; convert, export and run jobs as configured; "
                                   "serve the admin API. Stops on SIGINT/SIGTERM after "
                                   "writing what is queued.")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="public address (overrides [receiver] listen; port 0 picks one)")
    p.add_argument("--http", action="store_true",
                   help="serve plain HTTP instead of HTTPS ([receiver] tls = false)")
    p.add_argument("--tui", action="store_true",
                   help="show the dashboard in this terminal (logs go to the log file only)")
    p.set_defaults(run=run, config_overrides=lambda a: {
        ("receiver", "listen"): a.listen,
        ("receiver", "tls"): False if a.http else None,
    })


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    if args.tui:
        from appliance.tui.inprocess import install_reactor

        install_reactor()  # Textual's asyncio loop drives Twisted: before the import below
    from twisted.internet import reactor as installed  # the entry point owns the reactor
    from twisted.internet.defer import Deferred

    from appliance.lifecycle import DataDirInUse, hold_data_dir
    from appliance.logs import start_logging
    from appliance.node.identity import IdentityError
    from appliance.reactortype import service_reactor
    from appliance.server import Server

    reactor = service_reactor(installed)
    try:
        hold_data_dir(config.data_dir)
    except DataDirInUse as e:
        raise CommandError(str(e)) from None
    # While the dashboard owns the terminal, log lines would garble it: file only.
    console = open(os.devnull, "w") if args.tui else sys.stderr  # noqa: SIM115
    log_file = start_logging(DataDir(config.data_dir).logs, config.server.log_level, console)
    handle_signals(reactor, log_file)
    try:
        server = Server(config, reactor, log_file=log_file)
    except IdentityError as e:  # a damaged node.json: the operator must decide
        raise CommandError(str(e)) from None
    outcome = Outcome()

    def ready(listening: Listening) -> None:
        out.write(f"appliance: listening on {listening.url}\n")
        if listening.fingerprint:
            made = " (self-signed, created now)" if listening.cert_created else ""
            out.write(f"appliance: TLS certificate SHA-256 {listening.fingerprint}{made}\n")
        out.flush()
        reactor.addSystemEventTrigger("before", "shutdown", lambda: drain(server, outcome))
        if args.tui:
            from appliance.tui.inprocess import start_dashboard

            start_dashboard(reactor, config, listening)

    def failed(failure: Failure) -> None:
        outcome.code = 1
        out.write(f"appliance: cannot start: {failure.getErrorMessage()}\n")
        out.flush()
        Deferred.fromCoroutine(server.stop()).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(
        lambda: Deferred.fromCoroutine(server.start()).addCallbacks(ready, failed))
    reactor.run()
    if outcome.abandoned:
        # A thread may still be blocked in what was abandoned (an upload):
        # everything acknowledged is on disk, so leave without joining it.
        out.flush()
        log_file.flush()
        os._exit(outcome.code)
    return outcome.code


# -- signals and shutdown ----------------------------------------------------------------------

def handle_signals(reactor: IServiceReactor, log_file: LogFile) -> None:
    """SIGHUP reopens the log file (after logrotate moved it); SIGTERM and SIGINT stop the
    reactor once (`StopOnce`), and the "before shutdown" trigger drains the server (`drain`).
    """
    signal.signal(signal.SIGHUP, lambda *_: reactor.callFromThread(reopen_log, log_file))
    # After the reactor's own handlers are in (it installs them as it starts running).
    reactor.callWhenRunning(StopOnce(reactor).install)


class StopOnce:
    """SIGINT and SIGTERM stop the reactor the first time; a repeat is only noted.

    The reactor's own handlers call reactor.stop() for every signal, and a second
    one during the drain raises ReactorNotRunning as a critical traceback. A repeat
    is common: the one-file binary's bootloader passes on the Ctrl-C that the
    terminal already sent to the whole process group.
    """

    def __init__(self, reactor: IServiceReactor):
        self.reactor = reactor
        self.stopping = False

    def install(self) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self.received)

    def received(self, number: int, frame: object = None) -> None:
        self.reactor.callFromThread(self._stop, signal.Signals(number).name)

    def _stop(self, name: str) -> None:
        from twisted.logger import Logger

        if self.stopping:
            Logger().info("{signal} again: already stopping (SIGKILL stops at once, without "
                          "the drain)", signal=name)
            return
        self.stopping = True
        Logger().info("{signal}: stopping", signal=name)
        self.reactor.stop()


def reopen_log(log_file: LogFile) -> None:
    from twisted.logger import Logger

    log_file.reopen()
    Logger().info("log file reopened (SIGHUP)")


def drain(server: Server, outcome: Outcome) -> Deferred[None]:
    """Stop `server` within its shutdown budget; note what was abandoned in `outcome`."""
    from twisted.internet.defer import Deferred
    from twisted.logger import Logger

    log = Logger()
    log.info("stopping: draining connections, spool, converter and uploads "
             "(at most {timeout:g}s)", timeout=server.config.server.shutdown_timeout)

    def done(abandoned: list[str]) -> None:
        outcome.abandoned = abandoned
        if abandoned:
            log.warn("stopped; abandoned at the deadline: {what}", what=", ".join(abandoned))
        else:
            log.info("stopped cleanly")

    return Deferred.fromCoroutine(server.stop()).addCallback(done)
