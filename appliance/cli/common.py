"""What every subcommand shares: the common options and the user-facing error."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

# What add_subparsers() returns (argparse names no public type for it; it is generic only
# to the type checker).
if TYPE_CHECKING:
    from appliance.admin.client import AdminClient
    from appliance.config import Config
    from appliance.storage.filters import Filter
    from appliance.storage.schema import SchemaRegistry

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction


class CommandError(Exception):
    """A problem the user can fix; printed as `appliance: <message>` with exit code 2."""


def common_options(*data_dir_flags: str,
                   data_dir_help: str = "data directory (overrides [server] data_dir)"
                   ) -> argparse.ArgumentParser:
    """Options every subcommand accepts; `data_dir_flags` are more spellings of --data-dir."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help="TOML configuration file")
    common.add_argument(*data_dir_flags, "--data-dir", metavar="DIR", help=data_dir_help)
    return common


def load_filter(path: str | Path | None,
                config: Config) -> tuple[Filter | None, SchemaRegistry]:
    """(filter or None, schemas) for a `--filter FILE` option; CommandError names the file."""
    from appliance.storage.factory import schema_registry
    from appliance.storage.filters import Filter
    from appliance.storage.schema import SchemaError

    schemas = schema_registry(config)
    if path is None:
        return None, schemas
    try:
        flt = Filter.from_file(path, schemas)
        flt.check_dimensions()
        return flt, schemas
    except (OSError, SchemaError, ValueError) as e:
        message = str(e)
        if not message.startswith(str(path)):  # errors from reading it name the file already
            message = f"{path}: {message}"
        raise CommandError(f"filter {message}") from None


def admin_options() -> argparse.ArgumentParser:
    """Options of the commands that talk to a running server through its admin API."""
    admin = argparse.ArgumentParser(add_help=False)
    admin.add_argument("--admin", metavar="URL",
                       help="admin API address, http://HOST:PORT or unix:PATH (default: the "
                            "one the server of this data dir wrote, else [admin] listen)")
    admin.add_argument("--token-file", metavar="FILE",
                       help="admin token (default: [admin] token_file, else "
                            "<data_dir>/admin.token)")
    return admin


def admin_client(args: argparse.Namespace, config: Config) -> AdminClient:
    """The AdminClient for `admin_options()`."""
    from appliance.admin.client import AdminClient

    return AdminClient.from_config(config, url=args.admin, token_file=args.token_file)
