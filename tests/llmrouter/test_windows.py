"""Budget windows: calendar windows in a zone, across midnight and DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from llmrouter.windows import DAILY, MONTHLY, WEEKLY, window_bounds


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_daily_window_follows_local_midnight_in_a_non_utc_zone():
    # 23:30 UTC on Jan 15 is 00:30 on Jan 16 in Berlin (UTC+1 in winter).
    assert window_bounds(DAILY, "Europe/Berlin", utc(2026, 1, 15, 23, 30)) == (
        utc(2026, 1, 15, 23),
        utc(2026, 1, 16, 23),
    )
    # One second before local midnight is still the previous day.
    assert window_bounds(DAILY, "Europe/Berlin", utc(2026, 1, 15, 22, 59, 59)) == (
        utc(2026, 1, 14, 23),
        utc(2026, 1, 15, 23),
    )
    # Exactly local midnight starts the new window ([start, end)).
    assert window_bounds(DAILY, "Europe/Berlin", utc(2026, 1, 15, 23))[0] == utc(2026, 1, 15, 23)


def test_spring_forward_day_is_23_hours_and_fall_back_day_25():
    start, end = window_bounds(DAILY, "Europe/Berlin", utc(2026, 3, 29, 12))
    assert (start, end) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    assert end - start == timedelta(hours=23)
    start, end = window_bounds(DAILY, "Europe/Berlin", utc(2026, 10, 25, 12))
    assert (start, end) == (utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))
    assert end - start == timedelta(hours=25)
    start, end = window_bounds(DAILY, "America/New_York", utc(2026, 3, 8, 12))
    assert (start, end) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))


def test_the_hour_repeated_at_fall_back_stays_in_its_day():
    # 01:30 local happens twice in New York on 2026-11-01 (05:30Z and 06:30Z).
    first = window_bounds(DAILY, "America/New_York", utc(2026, 11, 1, 5, 30))
    second = window_bounds(DAILY, "America/New_York", utc(2026, 11, 1, 6, 30))
    assert first == second == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))


@pytest.mark.parametrize(
    "zone",
    [
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "America/Santiago",
        "Australia/Lord_Howe",
        "Asia/Kolkata",
        "Pacific/Chatham",
    ],
)
def test_daily_windows_tile_a_year_without_gaps_or_overlaps(zone):
    tz = ZoneInfo(zone)
    day = date(2026, 1, 1)
    previous_end = None
    while day.year == 2026:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=tz)
        start, end = window_bounds(DAILY, zone, noon)
        assert start <= noon < end
        if previous_end is not None:
            assert start == previous_end, day
        assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
        assert start.astimezone(tz).date() == day or start.astimezone(tz).hour == 1  # skipped midnight
        previous_end = end
        day += timedelta(days=1)


def test_weekly_window_starts_on_local_monday():
    # Sunday 2026-03-01 23:30 in Berlin is 22:30Z; Monday 00:30 local is 23:30Z.
    assert window_bounds(WEEKLY, "Europe/Berlin", utc(2026, 3, 1, 22, 30)) == (
        utc(2026, 2, 22, 23),
        utc(2026, 3, 1, 23),
    )
    assert window_bounds(WEEKLY, "Europe/Berlin", utc(2026, 3, 1, 23, 30)) == (utc(2026, 3, 1, 23), utc(2026, 3, 8, 23))


def test_monthly_window_rolls_over_the_year_and_spans_dst():
    assert window_bounds(MONTHLY, "UTC", utc(2026, 12, 31, 23, 59)) == (utc(2026, 12, 1), utc(2027, 1, 1))
    # March in Berlin starts at UTC+1 and ends at UTC+2.
    assert window_bounds(MONTHLY, "Europe/Berlin", utc(2026, 3, 15)) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))


def test_naive_time_and_unknown_zone_and_period_are_refused():
    with pytest.raises(ValueError):
        window_bounds(DAILY, "UTC", datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        window_bounds(DAILY, "Mars/Olympus", utc(2026, 1, 1))
    with pytest.raises(ValueError):
        window_bounds("hourly", "UTC", utc(2026, 1, 1))


def test_fall_back_at_midnight_makes_a_25_hour_day_holding_the_repeated_hour():
    # Santiago leaves DST at 24:00 on 2026-04-04: 23:00-23:59 happens twice.
    second_2330 = utc(2026, 4, 5, 3, 30)  # 23:30 -04, the repeat
    assert window_bounds(DAILY, "America/Santiago", second_2330) == (utc(2026, 4, 4, 3), utc(2026, 4, 5, 4))
