"""`appliance serve`: run the node's services until stopped."""

from __future__ import annotations

import sys


def add_parser(sub, common) -> None:
    p = sub.add_parser("serve", parents=[common], help="run the receiver and spool",
                       description="Accept submissions on the public port and spool them "
                                   "durably. Stops on SIGINT/SIGTERM after writing what "
                                   "is queued.")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="public address (overrides [receiver] listen; port 0 picks one)")
    p.add_argument("--http", action="store_true",
                   help="serve plain HTTP instead of HTTPS ([receiver] tls = false)")
    p.set_defaults(run=run, config_overrides=lambda a: {
        ("receiver", "listen"): a.listen,
        ("receiver", "tls"): False if a.http else None,
    })


def run(args, config, out) -> int:
    from twisted.internet import reactor  # the entry point owns the global reactor
    from twisted.internet.defer import Deferred

    from appliance.logs import start_logging
    from appliance.server import Server

    start_logging(config.data_dir / "logs", config.server.log_level, sys.stderr)
    server = Server(config, reactor)
    outcome = {"code": 0}

    def ready(listening) -> None:
        out.write(f"appliance: listening on {listening.url}\n")
        if listening.fingerprint:
            made = " (self-signed, created now)" if listening.cert_created else ""
            out.write(f"appliance: TLS certificate SHA-256 {listening.fingerprint}{made}\n")
        out.flush()
        reactor.addSystemEventTrigger("before", "shutdown",
                                      lambda: Deferred.fromCoroutine(server.stop()))

    def failed(failure) -> None:
        outcome["code"] = 1
        out.write(f"appliance: cannot start: {failure.getErrorMessage()}\n")
        out.flush()
        Deferred.fromCoroutine(server.stop()).addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(
        lambda: Deferred.fromCoroutine(server.start()).addCallbacks(ready, failed))
    reactor.run()
    return outcome["code"]
