"""The submission URL forms (DESIGN 3.1) and validation of their segments.

The receiver never builds a file name from a URL: it stores the path as
received. Validation here rejects what no honest client sends (bad docIds,
empty, dot or control-character segments); the converter sanitises
dimension values again when it builds storage keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

DOC_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_CONTROL_OR_SLASH = re.compile(r"[\x00-\x1f\x7f/]")
MAX_SEGMENT = 256
TELEMETRY_DIMENSIONS = ("reason", "appName", "appVersion", "appUpdateChannel", "appBuildID")
GENERIC_DIMENSIONS = ("namespace", "docType", "docVersion")

FORM_TELEMETRY = "telemetry"            # /submit/telemetry/<docId>
FORM_TELEMETRY_DIMS = "telemetry-path"  # /submit/telemetry/<docId>/<5 dimensions>
FORM_GENERIC = "generic"                # /submit/<namespace>/<docType>/<docVersion>/<docId>


class RouteError(ValueError):
    """A submission path that matches no form (400) or is not a submission path (404)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Route:
    """A parsed submission path."""

    form: str
    doc_id: str
    dimensions: dict[str, str]


def _segment(raw: str, name: str) -> str:
    value = unquote(raw, errors="strict")
    if not value or value in (".", "..") or len(value) > MAX_SEGMENT:
        raise RouteError(400, f"bad {name} segment {raw[:64]!r}")
    if _CONTROL_OR_SLASH.search(value):
        raise RouteError(400, f"bad {name} segment {raw[:64]!r}: control character or '/'")
    return value


def _doc_id(raw: str) -> str:
    if not DOC_ID.fullmatch(raw):
        raise RouteError(400, f"bad docId {raw[:64]!r}: 1-128 characters of A-Z a-z 0-9 . _ -")
    return raw


def parse_submit_path(path: str) -> Route:
    """Match a request path (without query string) to one of the three submission forms."""
    if not path.startswith("/submit/"):
        raise RouteError(404, "unknown path; submissions go to /submit/...")
    parts = path[len("/submit/"):].split("/")
    if parts and parts[-1] == "":
        parts.pop()  # a trailing slash
    try:
        if parts and parts[0] == "telemetry":
            if len(parts) == 2:
                return Route(FORM_TELEMETRY, _doc_id(parts[1]), {})
            if len(parts) == 7:
                dims = {name: _segment(raw, name)
                        for name, raw in zip(TELEMETRY_DIMENSIONS, parts[2:], strict=True)}
                return Route(FORM_TELEMETRY_DIMS, _doc_id(parts[1]), dims)
            raise RouteError(400, "telemetry submissions are /submit/telemetry/<docId> or "
                                  "/submit/telemetry/<docId>/<reason>/<appName>/<appVersion>/"
                                  "<appUpdateChannel>/<appBuildID>")
        if len(parts) == 4:
            dims = {name: _segment(raw, name)
                    for name, raw in zip(GENERIC_DIMENSIONS, parts[:3], strict=True)}
            return Route(FORM_GENERIC, _doc_id(parts[3]), dims)
    except UnicodeDecodeError:
        raise RouteError(400, "path segments must be UTF-8") from None
    raise RouteError(400, "submissions are /submit/<namespace>/<docType>/<docVersion>/<docId>")
