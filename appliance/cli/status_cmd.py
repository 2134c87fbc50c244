"""`appliance status`: a one-screen summary of a running server, from its admin API."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from appliance.admin.nodestats import NodeStats
from appliance.cli.common import CommandError, Subparsers, admin_client, admin_options
from appliance.config import Config
from appliance.units import human_bytes, human_seconds


def add_parser(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "status", parents=[common, admin_options()], help="one-screen summary of a running server",
        description="Ask a running `appliance serve` (through its admin API) how it is: health "
                    "first, then ingest, spool, converter, export, disk, jobs and the ledger's "
                    "days that do not reconcile. Exit status: 0 healthy, 1 the server reports "
                    "problems, 2 the server cannot be reached or the token is wrong.")
    p.add_argument("--json", action="store_true",
                   help="print {\"stats\": ..., \"ledger\": ...} as JSON instead")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, config: Config, out: TextIO) -> int:
    from appliance.admin.client import AdminError

    client = admin_client(args, config)
    try:
        stats = client.stats()
        ledger = client.ledger()
    except AdminError as e:
        raise CommandError(e.message) from None
    finally:
        client.close()
    if args.json:
        out.write(json.dumps({"stats": stats, "ledger": ledger}, indent=1) + "\n")
    else:
        out.write(render(stats, ledger))
    return 0 if stats["health"]["ok"] else 1


# -- the text summary --------------------------------------------------------------------------

def _counts(table: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(table.items(), key=lambda kv: -kv[1])) \
        or "none"


def _ingest(s: NodeStats) -> str:
    ingest, rates = s["ingest"], s["rates"]
    by_status = ingest["requests_by_status"]
    latency = ingest["latency_seconds"]
    return (f"{sum(by_status.values()):,} requests ({_counts(by_status)}), "
            f"{rates['requests_per_s']:.1f} req/s, {human_bytes(rates['bytes_per_s'])}/s, "
            f"p50 {human_seconds(latency['p50'])}, p99 {human_seconds(latency['p99'])}, "
            f"{ingest['open_connections']} open connections")


def _spool(s: NodeStats) -> str:
    spool = s["spool"]
    waiting = spool["sealed_segments"]
    oldest = spool["oldest_sealed_age_seconds"]
    wait = f" (oldest {human_seconds(oldest)})" if waiting and oldest is not None else ""
    fsync = human_seconds(spool["fsync_seconds"]["p50"])
    return (f"{spool['records']:,} records, {human_bytes(spool['bytes'])} written; "
            f"{waiting} sealed segment(s) waiting{wait}; fsync p50 {fsync}; "
            f"errors: {_counts(spool['errors'])}")


def _converter(s: NodeStats) -> str:
    c = s["converter"]
    state = "running" if c["running"] else "NOT RUNNING"
    if c.get("paused"):
        state += f", PAUSED ({c['paused']})"
    if c.get("quarantined"):
        state += f", {c['quarantined']} record(s) quarantined after crashing it"
    reasons = c.get("invalid_by_reason", {})
    fixable = [r for r in ("unknown_revision", "spec_unavailable") if reasons.get(r)]
    hint = (f"; {' and '.join(fixable)} can be converted later: install the spec "
            f"(appliance specs add), then run `appliance reconvert` with the server stopped"
            if fixable else "")
    return (f"{state}, {c.get('converted', 0):,} converted, {c.get('invalid', 0):,} invalid "
            f"({_counts(reasons)}), {c['restarts']} restarts "
            f"(counts since the server started){hint}")


def _export(s: NodeStats) -> str:
    e = s["export"]
    if not e["enabled"]:
        return "off (the local store is the archive)"
    state = f"FAILING: {e['problem']}" if e.get("problem") else "ok"
    if e.get("held"):
        state += f", uploads HELD: {e['held']}"
    return (f"s3://{e.get('bucket')} {state}; backlog {e.get('backlog_files', 0)} files / "
            f"{human_bytes(e.get('backlog_bytes'))}, lag {human_seconds(e.get('lag_seconds', 0))}; "
            f"{e.get('uploaded_files', 0):,} files uploaded; "
            f"errors: {_counts(e.get('errors', {}))}")


def _jobs(s: NodeStats) -> str:
    jobs = s["jobs"]
    if not jobs["enabled"]:
        return "disabled"
    counts = {k: v for k, v in jobs.items() if k != "enabled" and isinstance(v, int) and v}
    return _counts(counts) if counts else "none"


def _ledger(ledger: dict[str, Any]) -> list[str]:
    days = ledger.get("days", [])
    bad = [d for d in days if not d["reconciled"]]
    if not days:
        return ["ledger     no data yet"]
    pending = sum(d["pending_conversion"] + d["pending_export"] for d in days)
    if not bad:
        return [f"ledger     {len(days)} day(s), all reconcile ({pending:,} records pending)"]
    lines = [f"ledger     {len(bad)} of {len(days)} day(s) do NOT reconcile:"]
    lines += [f"  ! {d['date']}: {d['problem']}"
              + ("" if d.get("confirmed", True) else " (seen once: may be a stage in motion)")
              for d in bad]
    return lines


def render(stats: NodeStats, ledger: dict[str, Any]) -> str:
    """The one-screen text for a /v1/stats and a /v1/ledger answer."""
    health = stats["health"]
    node = stats["node_id"]
    if stats["node_label"]:
        node = f"{stats['node_label']} (id {node})"
    lines = [f"appliance {stats['version']} on node {node}, "
             f"up {human_seconds(stats['uptime_seconds'])}"]
    if health["ok"]:
        lines.append("HEALTH     OK")
    else:
        lines.append(f"HEALTH     {len(health['problems'])} PROBLEM(S)")
        lines += [f"  ! {p}" for p in health["problems"]]
    disk, store = stats["disk"], stats["store"]
    lines += [
        f"ingest     {_ingest(stats)}",
        f"spool      {_spool(stats)}",
        f"converter  {_converter(stats)}",
        f"export     {_export(stats)}",
        f"disk       {human_bytes(disk['free_bytes'])} free of {human_bytes(disk['total_bytes'])} "
        f"(refusing below {human_bytes(disk['watermark_bytes'])})",
        f"store      {store['files']:,} files, {store['records']:,} records, "
        f"{human_bytes(store['bytes'])}",
        f"jobs       {_jobs(stats)}",
        *_ledger(ledger),
    ]
    return "\n".join(lines) + "\n"
