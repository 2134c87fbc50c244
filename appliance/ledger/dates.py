"""Receive time (ns) -> submission_date, cached per day for the hot path."""

from __future__ import annotations

import datetime

_DAY_NS = 86_400 * 10**9


def submission_date(received_ns: int) -> str:
    """The receive date in UTC as YYYYMMDD (in whole seconds: a float of nanoseconds
    would put the last ~100 ns of a day into the next)."""
    moment = datetime.datetime.fromtimestamp(received_ns // 10**9, datetime.UTC)
    return moment.strftime("%Y%m%d")


class DayOf:
    """Callable `received_ns -> "YYYYMMDD"` (UTC), as the converter dates records."""

    def __init__(self) -> None:
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
