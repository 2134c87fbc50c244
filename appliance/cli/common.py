"""What every subcommand shares: the common options and the user-facing error."""

from __future__ import annotations

import argparse


class CommandError(Exception):
    """A problem the user can fix; printed as `appliance: <message>` with exit code 2."""


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML configuration file")
    common.add_argument("--data-dir", metavar="DIR",
                        help="data directory (overrides [server] data_dir)")
    return common
