"""`appliance debug tail`: follow the pings that carry a debug id, from a running server."""

from __future__ import annotations

import argparse
import time
from typing import Any, TextIO

from appliance.cli.common import CommandError, Subparsers, admin_client, admin_options
from appliance.config import Config


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("debug", parents=[common], help="watch debug pings (X-Debug-ID)",
                       description="Debug tools for client developers (docs/clients.md).")
    debug = p.add_subparsers(dest="debug_command", required=True, metavar="COMMAND")
    tail = debug.add_parser(
        "tail", parents=[common, admin_options()],
        help="print the latest debug pings, then new ones as they arrive",
        description="Print the latest pings that carry an X-Debug-ID header (oldest of them "
                    "first, so the newest is at the bottom), each with its metadata and its "
                    "document pretty-printed, then follow: new debug pings are printed as "
                    "the converter stores them. Ctrl-C stops.")
    tail.add_argument("--debug-id", metavar="ID", help="only the pings of this debug id")
    tail.add_argument("-n", "--lines", type=int, default=10, metavar="N",
                      help="how many of the latest pings to print first (default 10)")
    tail.add_argument("--once", action="store_true", help="print the latest pings and exit")
    tail.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                      help="how often to ask the server for new pings (default 1)")
    tail.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.admin.client import AdminError
    from appliance.admin.debugpings import describe

    client = admin_client(args, config)
    shown: set[tuple[Any, ...]] = set()
    limit = max(args.lines, 1)
    try:
        while True:
            pings = client.debug_pings(args.debug_id, limit)
            current = {_identity(p) for p in pings}
            for ping in reversed(pings):
                if _identity(ping) not in shown:
                    out.write(describe(ping) + "\n\n")
            out.flush()
            shown = current  # only what the server still lists: bounded by `limit`
            if args.once:
                return 0
            limit = 200
            time.sleep(args.interval)
    except AdminError as e:
        raise CommandError(e.message) from None
    except KeyboardInterrupt:
        return 0
    finally:
        client.close()


def _identity(ping: dict[str, Any]) -> tuple[Any, ...]:
    return ping.get("submission_timestamp"), ping.get("namespace"), ping.get("doc_id")
