"""`appliance tui`: the dashboard, attached to a running server through its admin API."""

from __future__ import annotations

import argparse
from typing import TextIO

from appliance.cli.common import Subparsers, admin_options
from appliance.config import Config


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("tui", parents=[common, admin_options()],
                       help="the terminal dashboard of a running server",
                       description="Watch ingest, storage, export and jobs, and launch jobs, "
                                   "over the admin API of a running `appliance serve`. "
                                   "Press ? in the dashboard for its keys.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.admin.client import AdminClient
    from appliance.tui import DashboardApp

    client = AdminClient.from_config(config, url=args.admin, token_file=args.token_file)
    DashboardApp(client, target=args.admin or str(config.data_dir)).run()
    return 0
