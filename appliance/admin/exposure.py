"""Where the admin API may listen: loopback or a unix socket, unless explicitly allowed.

The bearer token travels in plain HTTP, so a listener reachable from the
network hands it to anyone on the path.
"""

from __future__ import annotations

import ipaddress

from appliance.config import parse_listen


class AdminExposed(Exception):
    """`[admin] listen` is reachable from the network and `allow_remote` is not set."""


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses; a wildcard or any other name is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def check_admin_listen(listen: str, allow_remote: bool) -> str | None:
    """A warning to log for a remote listener that is allowed, or None when local.

    Raises AdminExposed (a one-line message naming the keys) for a remote
    listener that is not allowed.
    """
    if listen.startswith("unix:"):
        return None
    host, _port = parse_listen(listen)
    if is_loopback(host):
        return None
    if not allow_remote:
        raise AdminExposed(
            f"[admin] listen = {listen!r} is not a loopback address: the admin token would "
            f"cross the network in plain HTTP; listen on 127.0.0.1, ::1 or unix:PATH, or set "
            f"[admin] allow_remote = true")
    return (f"the admin API listens on {listen} ([admin] allow_remote = true): its bearer "
            f"token travels in plain HTTP; reach it only through a trusted network or tunnel")
