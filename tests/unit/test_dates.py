"""A record's submission_date: the UTC day it was received, cached per day by DayOf."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from appliance.ledger.dates import DayOf, submission_date

MIDNIGHT_NS = 1_794_960_000 * 10**9  # 2026-11-18 00:00:00 UTC
DAY_NS = 86_400 * 10**9


def test_the_day_changes_at_midnight_utc_to_the_nanosecond():
    assert submission_date(MIDNIGHT_NS - 1) == "20261117"
    assert submission_date(MIDNIGHT_NS) == "20261118"


@given(st.lists(st.integers(-3 * DAY_NS, 3 * DAY_NS).map(lambda d: MIDNIGHT_NS + d),
                min_size=1, max_size=30))
def test_day_of_answers_as_submission_date_in_any_order(times):
    day_of = DayOf()
    assert [day_of(t) for t in times] == [submission_date(t) for t in times]
