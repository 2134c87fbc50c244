"""`[receiver] keep_headers`: the default list of kept request headers and its check.

Glean sends ``Date``, ``X-Telemetry-Agent``, ``X-Debug-ID`` and
``X-Source-Tags`` beside each ping; Firefox adds ``User-Agent``, ``DNT`` and
``X-PingSender-Version``; a load balancer in front may add
``X-Foxsec-IP-Reputation`` and ``X-LB-Tags``. The receiver applies the list
(appliance/receiver/keptheaders.py).
"""

from __future__ import annotations

import re

DEFAULT_KEEP = ("Date, DNT, X-PingSender-Version, X-Debug-ID, X-Source-Tags, "
                "X-Telemetry-Agent, X-Foxsec-IP-Reputation, X-LB-Tags, User-Agent")
MAX_KEPT = 32
_TOKEN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}")


def parse_keep_headers(text: str) -> tuple[str, ...]:
    """The header names of a comma-separated list; ValueError naming a bad one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"{name[:70]!r} is not a header name")
    if len(names) > MAX_KEPT:
        raise ValueError(f"at most {MAX_KEPT} headers can be kept, not {len(names)}")
    return tuple(dict.fromkeys(names))


def check_keep_headers(text: str) -> str | None:
    """The config check: None if `text` is a usable list, else the problem."""
    try:
        parse_keep_headers(text)
    except ValueError as e:
        return str(e)
    return None
