"""Parsing of `HOST:PORT` listen addresses."""

from __future__ import annotations


def parse_listen(value: str) -> tuple[str, int]:
    """Split `HOST:PORT` (or `[V6ADDR]:PORT`) into host and port; port 0 picks a free one."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port must be a number, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0-65535, got {port}")
    return host, port
