"""A small, bounded User-Agent parser: browser, OS and browser version.

It answers what an analysis of browser pings asks ("which Firefox version on
which OS") and nothing more. Only the first `MAX_SCAN` characters are read and
every pattern is anchored on a fixed token, so its cost is bounded whatever a
client sends.
"""

from __future__ import annotations

import re

MAX_SCAN = 512
_VERSION = r"/(\d[\d.]{0,31})"
# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = tuple((name, re.compile(token + _VERSION)) for name, token in (
    ("Edge", r"\bEdg(?:e|A|iOS)?"),
    ("Opera", r"\bOPR"),
    ("Firefox", r"\b(?:Firefox|FxiOS)"),
    ("Chrome", r"\b(?:Chrome|CriOS)"),
    ("Safari", r"\bVersion(?=/[\d.]+.*\bSafari/)"),
))
_SYSTEMS = (
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "Macintosh"),
    ("Mac OS X", "Macintosh"),
    ("Linux", "Linux"),
    ("BSD", "BSD"),
)


def parse_user_agent(text: str) -> dict[str, str]:
    """``{"browser", "os", "version"}`` from a User-Agent, each only when recognised."""
    text = text[:MAX_SCAN]
    out: dict[str, str] = {}
    for name, pattern in _BROWSERS:
        match = pattern.search(text)
        if match:
            out["browser"] = name
            out["version"] = match.group(1)
            break
    for token, system in _SYSTEMS:
        if token in text:
            out["os"] = system
            break
    return out
