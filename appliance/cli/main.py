"""The `appliance` command line: one parser, a module per subcommand."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from appliance import __version__
from appliance.cli import (
    config_cmd,
    convert_cmd,
    debug_cmd,
    export_cmd,
    import_cmd,
    job_cmd,
    receiver_cmd,
    reconvert_cmd,
    selftest_cmd,
    serve_cmd,
    spool_cmd,
    status_cmd,
    store_cmd,
    tui_cmd,
)
from appliance.cli.common import CommandError, common_options
from appliance.config import ConfigError, load_config

COMMANDS = (serve_cmd, config_cmd, spool_cmd, import_cmd, convert_cmd, reconvert_cmd,
            store_cmd, export_cmd, job_cmd, selftest_cmd, tui_cmd, status_cmd, receiver_cmd,
            debug_cmd)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appliance",
        description="A telemetry pipeline in one program: HTTPS ingest, a durable spool, "
                    "conversion, S3 export and MapReduce.",
    )
    parser.add_argument("--version", action="version", version=f"appliance {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()
    for module in COMMANDS:
        module.add_parser(sub, common)
    return parser


def main(argv: list[str] | None = None, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (and exits with it when run as a script)."""
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides = {("server", "data_dir"): args.data_dir}
    overrides.update(getattr(args, "config_overrides", lambda a: {})(args))
    try:
        config = load_config(args.config, overrides=overrides)
        code = args.run(args, config, stdout)
    except (ConfigError, CommandError) as e:
        print(f"appliance: {e}", file=stderr)
        code = 2
    if argv is None:
        sys.exit(code)
    return code
