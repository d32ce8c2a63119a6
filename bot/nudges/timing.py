"""When nudges fall due: working hours, local calendar days, time zones. Pure functions.

Intervals are counted in local calendar days, never in multiples of 24 hours, so a nudge
set for 09:00 stays at 09:00 across a daylight-saving change: nothing is skipped or doubled.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WORKDAY_START = time(9, 0)
WORKDAY_END = time(18, 0)
WEEKEND = {5, 6}  # Saturday, Sunday
MAX_EVERY_DAYS = 366
_EVERY = re.compile(r"^(\d{1,3})\s*d(ays?)?$")
_AT = re.compile(r"^(\d{1,2}):(\d{2})$")


def zone(name: str) -> ZoneInfo:
    """The IANA zone; raises ValueError with a readable reason for anything else."""
    if not name or name != name.strip() or ".." in name:
        raise ValueError(f"{name!r} is not a time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone I know; use an IANA name like Europe/Berlin") from None


def add_local_days(moment: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The same wall-clock time `days` calendar days later, in UTC."""
    local = moment.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
    return local.replace(tzinfo=tz).astimezone(UTC)


def _at(day: date, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def working_moment(moment: datetime, tz: ZoneInfo, at: time | None = None) -> datetime:
    """The first moment at or after `moment` inside working hours (Monday to Friday, 09:00
    to 18:00 local); with `at`, the first working day's `at` o'clock at or after `moment`."""
    day = moment.astimezone(tz).date()
    for offset in range(8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() in WEEKEND:
            continue
        if at is not None:
            candidate = _at(candidate_day, at, tz)
            if candidate >= moment:
                return candidate
            continue
        start, end = _at(candidate_day, WORKDAY_START, tz), _at(candidate_day, WORKDAY_END, tz)
        if moment < start:
            return start
        if moment < end:
            return moment
    raise AssertionError("a working day falls within any eight days")


def is_working_moment(moment: datetime, tz: ZoneInfo) -> bool:
    return working_moment(moment, tz) == moment


def parse_every(text: str) -> int:
    """'14d', '14 days' -> 14."""
    match = _EVERY.match(text.strip().lower())
    if not match or not 1 <= int(match.group(1)) <= MAX_EVERY_DAYS:
        raise ValueError(
            f"`{text}` is not an interval: use whole days from 1d to {MAX_EVERY_DAYS}d, like `14d`"
        )
    return int(match.group(1))


def parse_at(text: str) -> time:
    """'10:00' -> 10:00, within working hours."""
    match = _AT.match(text.strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60 and WORKDAY_START <= time(hour, minute) < WORKDAY_END:
            return time(hour, minute)
    raise ValueError(f"`{text}` is not a time in working hours: use HH:MM from 09:00 to 17:59, like `10:00`")


def format_local(moment: datetime, tz: ZoneInfo) -> str:
    """'Mon 30 Nov 2026, 09:00 CET', the way a nudge's schedule reads in its time zone."""
    return moment.astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")
