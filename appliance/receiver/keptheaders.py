"""Which request headers a spooled submission keeps (`[receiver] keep_headers`,
appliance/config/headers.py). ``Content-Encoding`` is always kept: the
converter needs it to read the body. Each value is cut to
`MAX_VALUE_CHARS` so a client cannot grow a spool record through its headers.
"""

from __future__ import annotations

from collections.abc import Mapping

from appliance.config.headers import parse_keep_headers

ALWAYS_KEPT = ("Content-Encoding",)
MAX_VALUE_CHARS = 1024


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
