"""The hidden `_receiver-worker` subcommand: one receiver child of `appliance serve`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from appliance.cli.common import Subparsers
from appliance.config import Config, parse_listen
from appliance.selfcmd import RECEIVER_WORKER


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    worker = sub.add_parser(RECEIVER_WORKER, parents=[common])  # no help: not listed
    worker.add_argument("--listen", required=True, metavar="HOST:PORT")
    worker.add_argument("--cert", type=Path, help="PEM certificate; without it, plain HTTP")
    worker.add_argument("--key", type=Path)
    worker.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    """Serve the public port beside the other children until SIGTERM; reports on `out`."""
    from twisted.internet import reactor  # the entry point owns the global reactor
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from appliance.lifecycle import die_with_parent
    from appliance.reactortype import service_reactor
    from appliance.receiver.worker import ReceiverWorker, run

    die_with_parent()
    # Log lines go to stderr; the parent logs them as "receiver N: ...".
    level = LogLevel.levelWithName(config.server.log_level)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(
        textFileLogObserver(sys.stderr, timeFormat=""),
        [LogLevelFilterPredicate(defaultLogLevel=level)])], redirectStandardIO=False)
    host, port = parse_listen(args.listen)
    tls = (args.cert, args.key or args.cert) if args.cert else None
    worker = ReceiverWorker(config, service_reactor(reactor), host, port, tls, out)
    return run(worker, reactor, sys.stderr)
