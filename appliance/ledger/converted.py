"""Converted and invalid: counted by the converter per submission_date.

The totals are part of the converter's checkpoint (`Checkpoint.ledger`) and
are committed in the same atomic write as the generation whose records they
count, so after a crash they match the store exactly: an uncommitted
generation is redone, and counted, once.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class DayCounts:
    """{date: {"converted": n, "invalid": {reason: n}}}, mergeable."""

    def __init__(self, days: dict[str, Any] | None = None):
        self.converted: Counter[str] = Counter()
        self.invalid: dict[str, Counter[str]] = {}
        for date, row in (days or {}).items():
            self.converted[date] += int(row.get("converted", 0))
            for reason, n in row.get("invalid", {}).items():
                self.invalid.setdefault(date, Counter())[reason] += int(n)

    def add(self, date: str, invalid_reason: str | None) -> None:
        """Count one record converted (reason None) or kept as invalid."""
        if invalid_reason is None:
            self.converted[date] += 1
        else:
            self.invalid.setdefault(date, Counter())[invalid_reason] += 1

    def reconverted(self, date: str, reason: str) -> None:
        """A record counted invalid with `reason` is now converted (`appliance reconvert`);
        nothing changes for one never counted (a store written by `appliance convert`)."""
        reasons = self.invalid.get(date)
        if not reasons or reasons[reason] <= 0:
            return
        reasons[reason] -= 1
        if not reasons[reason]:
            del reasons[reason]
        self.converted[date] += 1

    def merge(self, other: DayCounts) -> None:
        self.converted.update(other.converted)
        for date, reasons in other.invalid.items():
            self.invalid.setdefault(date, Counter()).update(reasons)

    def as_json(self) -> dict[str, Any]:
        """The checkpoint form."""
        dates = sorted(set(self.converted) | set(self.invalid))
        return {d: {"converted": self.converted.get(d, 0),
                    "invalid": dict(sorted(self.invalid.get(d, {}).items()))} for d in dates}
