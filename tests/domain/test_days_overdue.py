"""Days overdue (SPEC §6): whole calendar days in the business time zone from the due date,
0 on the due date itself; ``overdue_before`` is the same rule as an instant for SQL."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from app.domain.credit import business_date, business_day_start, days_overdue, overdue_before

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
UTC = dt.UTC


def sh(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SH)


class TestAroundShanghaiMidnight:
    def test_due_today_is_not_overdue_until_local_midnight(self):
        due = sh(2026, 3, 31, 0, 0)
        assert days_overdue(due, sh(2026, 3, 31, 23, 59, 59), SH) == 0
        assert days_overdue(due, sh(2026, 4, 1, 0, 0), SH) == 1

    def test_due_one_minute_before_midnight_is_one_day_overdue_one_minute_later(self):
        assert days_overdue(sh(2026, 3, 31, 23, 59), sh(2026, 4, 1, 0, 0), SH) == 1

    def test_whole_days_regardless_of_hour(self):
        assert days_overdue(sh(2026, 3, 1, 23, 0), sh(2026, 3, 31, 1, 0), SH) == 30
        assert days_overdue(sh(2026, 3, 1, 1, 0), sh(2026, 3, 31, 23, 0), SH) == 30

    def test_never_negative_before_the_due_date(self):
        assert days_overdue(sh(2026, 4, 10), sh(2026, 4, 1), SH) == 0


class TestAcrossUtcDayBoundaries:
    def test_same_utc_day_can_be_two_shanghai_days(self):
        # 15:30Z and 16:30Z on the same UTC day are 23:30 and 00:30 in Shanghai.
        due = dt.datetime(2026, 3, 31, 15, 30, tzinfo=UTC)
        assert days_overdue(due, dt.datetime(2026, 3, 31, 15, 59, tzinfo=UTC), SH) == 0
        assert days_overdue(due, dt.datetime(2026, 3, 31, 16, 0, tzinfo=UTC), SH) == 1

    def test_next_utc_day_can_be_the_same_shanghai_day(self):
        # 16:00Z on the 30th and 15:59Z on the 31st are both 31 March in Shanghai.
        due = dt.datetime(2026, 3, 30, 16, 0, tzinfo=UTC)
        assert days_overdue(due, dt.datetime(2026, 3, 31, 15, 59, tzinfo=UTC), SH) == 0

    def test_the_zone_decides(self):
        due = dt.datetime(2026, 3, 31, 3, 0, tzinfo=UTC)  # 30 March in New York
        at = dt.datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
        assert days_overdue(due, at, SH) == 0
        assert days_overdue(due, at, NY) == 1
        assert days_overdue(due, at, UTC) == 0


class TestBusinessDays:
    def test_day_start_is_local_midnight_in_utc(self):
        assert business_day_start(dt.date(2026, 3, 31), SH) == dt.datetime(2026, 3, 30, 16, tzinfo=UTC)
        assert business_date(dt.datetime(2026, 3, 30, 16, tzinfo=UTC), SH) == dt.date(2026, 3, 31)

    def test_dst_day_start(self):
        # New York springs forward on 8 March 2026: the day starts at 05:00Z, the next at 04:00Z.
        assert business_day_start(dt.date(2026, 3, 8), NY) == dt.datetime(2026, 3, 8, 5, tzinfo=UTC)
        assert business_day_start(dt.date(2026, 3, 9), NY) == dt.datetime(2026, 3, 9, 4, tzinfo=UTC)


instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    due=instants,
    at=instants,
    days=st.integers(min_value=1, max_value=400),
    zone=st.sampled_from([SH, NY, UTC]),
)
def test_overdue_before_agrees_with_days_overdue(due, at, days, zone):
    assert (days_overdue(due, at, zone) >= days) == (due < overdue_before(at, zone, days=days))
