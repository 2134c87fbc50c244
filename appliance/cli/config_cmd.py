"""`appliance config`: print the effective configuration."""

from __future__ import annotations

import argparse
from typing import TextIO

from appliance.cli.common import Subparsers
from appliance.config import Config, render_toml


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[common],
                       help="print the effective configuration as TOML",
                       description="Print the effective configuration (embedded defaults, "
                                   "the --config file, APPLIANCE_* variables and flags), "
                                   "noting where each non-default value came from.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    out.write(render_toml(config))
    return 0
