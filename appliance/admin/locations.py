"""Where the admin API's files are: the token, the address a running server wrote."""

from __future__ import annotations

from pathlib import Path

from appliance.config import Config
from appliance.datadir import DataDir


def token_path(config: Config) -> Path:
    """`[admin] token_file`, else `<data_dir>/admin.token`."""
    name = config.admin.token_file
    return Path(name).expanduser() if name else DataDir(config.data_dir).admin_token


def admin_url_file(config: Config) -> Path:
    """The file where a running server writes the admin API's actual address."""
    return DataDir(config.data_dir).admin_url


def listen_url(listen: str, data_dir: Path) -> str:
    """An `[admin] listen` value as a client URL (http://HOST:PORT or unix:/abs/path)."""
    if listen.startswith("unix:"):
        return f"unix:{socket_path(listen, data_dir)}"
    return f"http://{listen}"


def socket_path(listen: str, data_dir: Path) -> Path:
    """The unix socket path of a `unix:PATH` listen value (relative to the data dir)."""
    return data_dir / Path(listen[len("unix:"):]).expanduser()


def default_url(config: Config) -> str:
    """The admin URL from the configuration alone (no server asked)."""
    return listen_url(config.admin.listen, config.data_dir)
