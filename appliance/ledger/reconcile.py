"""Checking each day's counts: accepted = converted + invalid + pending conversion, and
converted + invalid = exported + pending export."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from appliance.ledger.converted import DayCounts
from appliance.ledger.local import LocalFile


def _records(n: int) -> str:
    return f"{n} record{'s' if n != 1 else ''}"


def _mismatch(left: int, right: int, missing_where: str, extra_what: str) -> str:
    if left > right:
        return f"{_records(left - right)} missing {missing_where}"
    return f"{_records(right - left)} more {extra_what}"


def day_rows(accepted: Mapping[str, int], converted: DayCounts,
             pending_conversion: Mapping[str, int], exported: Mapping[str, int],
             local: Iterable[LocalFile], exported_but_local: frozenset[str],
             export_enabled: bool) -> list[dict[str, Any]]:
    """One reconciliation row per day, newest first (the /v1/ledger "days")."""
    pending_export: Counter[str] = Counter()
    for f in local:
        if f.key not in exported_but_local:  # journaled as exported, delete pending
            pending_export[f.date] += f.records
    dates = (set(accepted) | set(converted.converted) | set(converted.invalid)
             | set(pending_conversion) | set(exported) | set(pending_export))
    rows = []
    for date in sorted(dates, reverse=True):
        invalid = dict(sorted(converted.invalid.get(date, {}).items()))
        row = {
            "date": date,
            "accepted": accepted.get(date, 0),
            "converted": converted.converted.get(date, 0),
            "invalid": invalid,
            "exported": exported.get(date, 0),
            "pending_conversion": pending_conversion.get(date, 0),
            "pending_export": pending_export.get(date, 0),
        }
        row["problem"] = day_problem(row, export_enabled)
        row["reconciled"] = row["problem"] is None
        rows.append(row)
    return rows


def day_problem(row: dict[str, Any], export_enabled: bool) -> str | None:
    """Why a day does not reconcile, or None if it does."""
    out = row["converted"] + sum(row["invalid"].values())
    problems = []
    spooled = row["accepted"]
    if spooled != out + row["pending_conversion"]:
        problems.append(
            f"accepted {spooled} != converted {row['converted']} + invalid "
            f"{sum(row['invalid'].values())} + pending conversion {row['pending_conversion']}: "
            + _mismatch(spooled, out + row["pending_conversion"],
                        "between the spool and the store", "converted than accepted"))
    kept = row["exported"] + row["pending_export"]
    if out != kept:
        where = "from the store and S3" if export_enabled else "from the store"
        problems.append(
            f"converted + invalid {out} != exported {row['exported']} + in the local store "
            f"{row['pending_export']}: " + _mismatch(out, kept, where,
                                                      "stored than converted"))
    return "; ".join(problems) or None
