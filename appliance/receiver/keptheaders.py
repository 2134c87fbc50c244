"""Which request headers a spooled submission keeps (`[receiver] keep_headers`).

Glean sends ``Date``, ``X-Telemetry-Agent``, ``X-Debug-ID`` and
``X-Source-Tags`` beside each ping; Firefox adds ``User-Agent``, ``DNT`` and
``X-PingSender-Version``; a load balancer in front may add
``X-Foxsec-IP-Reputation`` and ``X-LB-Tags``. ``Content-Encoding`` is always
kept: the converter needs it to read the body. Each value is cut to
`MAX_VALUE_CHARS` so a client cannot grow a spool record through its headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

DEFAULT_KEEP = ("Date, DNT, X-PingSender-Version, X-Debug-ID, X-Source-Tags, "
                "X-Telemetry-Agent, X-Foxsec-IP-Reputation, X-LB-Tags, User-Agent")
ALWAYS_KEPT = ("Content-Encoding",)
MAX_VALUE_CHARS = 1024
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


class KeptHeaders:
    """Picks the kept headers out of a request's (lower-case name -> first value) map."""

    def __init__(self, names: tuple[str, ...]):
        names = tuple(dict.fromkeys((*names, *ALWAYS_KEPT)))
        # (name as stored, name as looked up)
        self._names = tuple((name, name.lower().encode()) for name in names)

    @classmethod
    def from_config(cls, text: str) -> KeptHeaders:
        return cls(parse_keep_headers(text))

    def pick(self, headers: Mapping[bytes, bytes]) -> dict[str, str]:
        """The kept headers present, each value at most `MAX_VALUE_CHARS` characters."""
        # latin-1: any bytes a client sends survive, nothing raises
        return {name: value[:MAX_VALUE_CHARS].decode("latin-1") for name, key in self._names
                if (value := headers.get(key)) is not None}
