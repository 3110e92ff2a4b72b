"""Budget windows: calendar days, ISO weeks and months in a time zone.

A window is [start, end) in UTC, computed from the wall-clock calendar of the
budget's zone. Local midnights are converted one by one, never by adding 24
hours, so a day that has 23 or 25 hours because of a daylight-saving change
is one window of that length. Where a zone skips midnight (clocks jump from
00:00 to 01:00), zoneinfo's fold=0 maps 00:00 to the instant of the jump,
which is when that day really starts.

The clock is injected: callers pass ``now``; ``utc_now`` is the default.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
PERIODS = (DAILY, WEEKLY, MONTHLY)


def utc_now() -> datetime:
    return datetime.now(UTC)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The zone for a name; raises ValueError for an unknown one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def available_zones() -> set[str]:
    """The IANA names this machine's zone database knows (what the API documents)."""
    return available_timezones() | {"UTC"}


def is_valid_zone(name: str) -> bool:
    try:
        zone(name)
    except ValueError:
        return False
    return True


def _local_midnight_utc(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)


def _first_day(period: str, local_day: date) -> tuple[date, date]:
    if period == DAILY:
        return local_day, local_day + timedelta(days=1)
    if period == WEEKLY:  # ISO weeks start on Monday
        start = local_day - timedelta(days=local_day.weekday())
        return start, start + timedelta(days=7)
    if period == MONTHLY:
        start = local_day.replace(day=1)
        nxt = date(start.year + (start.month == 12), start.month % 12 + 1, 1)
        return start, nxt
    raise ValueError(f"unknown budget period {period!r}; use one of {', '.join(PERIODS)}")


def window_bounds(period: str, tz_name: str, now: datetime) -> tuple[datetime, datetime]:
    """The [start, end) window in UTC containing the aware instant ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = zone(tz_name)
    local_day = now.astimezone(tz).date()
    first, after = _first_day(period, local_day)
    start, end = _local_midnight_utc(first, tz), _local_midnight_utc(after, tz)
    # Defensive: should a transition across midnight ever leave the instant
    # outside the window of its wall-clock date, it belongs to the
    # neighbouring window, so windows always tile time without gaps.
    if now < start:
        first, after = _first_day(period, local_day - timedelta(days=1))
        start, end = _local_midnight_utc(first, tz), _local_midnight_utc(after, tz)
    elif now >= end:
        first, after = _first_day(period, local_day + timedelta(days=1))
        start, end = _local_midnight_utc(first, tz), _local_midnight_utc(after, tz)
    return start, end
