"""Receive time (ns) -> submission_date, cached per day for the hot path."""

from __future__ import annotations

from appliance.convert.records import submission_date

_DAY_NS = 86_400 * 10**9


class DayOf:
    """Callable `received_ns -> "YYYYMMDD"` (UTC), as the converter dates records."""

    def __init__(self):
        self._start = self._end = 0
        self._day = ""

    def __call__(self, received_ns: int) -> str:
        if self._start <= received_ns < self._end:
            return self._day
        day = submission_date(received_ns)
        self._start = received_ns - received_ns % _DAY_NS
        self._end = self._start + _DAY_NS
        self._day = day
        return day
