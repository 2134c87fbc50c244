"""The `appliance` command line: one parser, a module per subcommand."""

from __future__ import annotations

import argparse
import re
import sys
from typing import NoReturn, TextIO

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
    specs_cmd,
    spool_cmd,
    status_cmd,
    store_cmd,
    tui_cmd,
)
from appliance.cli.common import CommandError, common_options
from appliance.config import ConfigError, load_config

COMMANDS = (serve_cmd, config_cmd, spool_cmd, import_cmd, convert_cmd, specs_cmd, reconvert_cmd,
            store_cmd, export_cmd, job_cmd, selftest_cmd, tui_cmd, status_cmd, receiver_cmd,
            debug_cmd)


# `'_name', ` or `, '_name'` in argparse's "invalid choice" message: an internal command.
_HIDDEN_CHOICE = re.compile(r"'_[^']*', |, '_[^']*'")


class Parser(argparse.ArgumentParser):
    """argparse, with the internal `_...-worker` commands left out of its error messages."""

    def error(self, message: str) -> NoReturn:
        super().error(_HIDDEN_CHOICE.sub("", message))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help(stderr)  # bare `appliance`: what it can do, not just "required"
        return _exit(argv, 2)
    args = parser.parse_args(argv)
    overrides = {("server", "data_dir"): args.data_dir}
    overrides.update(getattr(args, "config_overrides", lambda a: {})(args))
    try:
        config = load_config(args.config, overrides=overrides)
        code = args.run(args, config, stdout)
    except (ConfigError, CommandError) as e:
        print(f"appliance: {e}", file=stderr)
        code = 2
    except OSError as e:
        if e.filename is None:
            raise  # not about a file the operator named or owns: a bug, with its traceback
        print(f"appliance: {_describe(e)}", file=stderr)
        code = 2
    return _exit(argv, code)


def _describe(error: OSError) -> str:
    """One line for a file system error: the path, what went wrong and, for permissions, what
    to check."""
    if isinstance(error, FileExistsError):  # a directory was wanted where a file is
        return f"{error.filename}: exists and is not a directory"
    text = f"{error.filename}: {error.strerror or error}"
    if isinstance(error, PermissionError):
        text += " (check the owner and mode of the data dir and the files named in the config)"
    return text


def _exit(argv: list[str] | None, code: int) -> int:
    if argv is None:
        sys.exit(code)
    return code
