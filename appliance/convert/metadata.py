"""The metadata a generic-form record carries, shaped like Mozilla's pipeline.

A converted generic-form document gets a top-level ``"metadata"`` object: the
submission time, the four URL parts, the kept request headers under
lower-case snake-case names, and the User-Agent parsed. Its traffic class
(``main``, ``automation`` or ``debug``) and channel choose the partition.
docs/clients.md describes both.
"""

from __future__ import annotations

import datetime

from appliance.convert.useragent import parse_user_agent
from appliance.spool.record import SpoolRecord

TRAFFIC_MAIN = "main"
TRAFFIC_AUTOMATION = "automation"
TRAFFIC_DEBUG = "debug"
# Transport detail, not a property of the document.
_NOT_METADATA = frozenset({"content_encoding"})


def header_name(name: str) -> str:
    """``X-Debug-ID`` -> ``x_debug_id``."""
    return name.lower().replace("-", "_")


def submission_timestamp(received_ns: int) -> str:
    """The receive time as ISO 8601 UTC with microseconds: ``2026-12-04T17:52:19.123456Z``."""
    moment = datetime.datetime.fromtimestamp(received_ns // 1000 / 1e6, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def headers_of(record: SpoolRecord) -> dict[str, str]:
    """The record's kept headers by snake-case name (as `metadata.header` has them)."""
    return {header_name(name): value for name, value in record.headers.items()
            if header_name(name) not in _NOT_METADATA}


def traffic(header: dict[str, str]) -> str:
    """``debug`` if the ping has a debug id, else ``automation`` if tagged so, else ``main``."""
    if header.get("x_debug_id", "").strip():
        return TRAFFIC_DEBUG
    tags = header.get("x_source_tags", "")
    if any(tag.strip().lower() == "automation" for tag in tags.split(",")):
        return TRAFFIC_AUTOMATION
    return TRAFFIC_MAIN


def channel(payload) -> str | None:
    """A Glean ping's ``client_info.app_channel``, when it has one."""
    info = payload.get("client_info") if isinstance(payload, dict) else None
    value = info.get("app_channel") if isinstance(info, dict) else None
    return value if isinstance(value, str) else None


def metadata(record: SpoolRecord, dimensions: dict[str, str], doc_id: str,
             header: dict[str, str]) -> dict:
    """The ``metadata`` object of a generic-form record."""
    meta = {
        "submission_timestamp": submission_timestamp(record.received_ns),
        "document_namespace": dimensions["namespace"],
        "document_type": dimensions["docType"],
        "document_version": dimensions["docVersion"],
        "document_id": doc_id,
        "header": header,
    }
    agent = header.get("user_agent")
    if agent:
        meta["user_agent"] = parse_user_agent(agent)
    return meta
