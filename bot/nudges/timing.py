"""When nudges fall due: working hours, local calendar days, time zones. Pure functions.

Intervals are counted in local calendar days, never in multiples of 24 hours, so a nudge
set for 09:00 stays at 09:00 across a daylight-saving change: nothing is skipped or doubled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_EVERY_DAYS = 366
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingHours:
    """When nudges may go out: these weekdays (0 is Monday), from `start` until `end` local."""

    days: frozenset[int] = frozenset(range(5))
    start: time = time(9, 0)
    end: time | None = time(18, 0)  # None: midnight at the end of the day

    def __str__(self) -> str:
        end = self.end.strftime("%H:%M") if self.end else "24:00"
        return f"{_describe_days(self.days)}, {self.start:%H:%M} to {end}"

    def contains_time(self, clock: time) -> bool:
        return self.start <= clock and (self.end is None or clock < self.end)


DEFAULT_HOURS = WorkingHours()
_EVERY = re.compile(r"^(\d{1,3})\s*d(ays?)?$")
_AT = re.compile(r"^(\d{1,2}):(\d{2})$")
_DAYS_PART = re.compile(r"^([a-z]+)(?:-([a-z]+))?$")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


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


def working_moment(
    moment: datetime, tz: ZoneInfo, at: time | None = None, hours: WorkingHours = DEFAULT_HOURS
) -> datetime:
    """The first moment at or after `moment` inside working hours (by default Monday to
    Friday, 09:00 to 18:00 local); with `at`, the first working day's `at` o'clock at or after it."""
    day = moment.astimezone(tz).date()
    for offset in range(8):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.weekday() not in hours.days:
            continue
        if at is not None:
            candidate = _at(candidate_day, at, tz)
            if candidate >= moment:
                return candidate
            continue
        start = _at(candidate_day, hours.start, tz)
        end_day, end_clock = (
            (candidate_day, hours.end) if hours.end else (candidate_day + timedelta(days=1), time(0))
        )
        end = _at(end_day, end_clock, tz)
        if moment < start:
            return start
        if moment < end:
            return moment
    raise AssertionError("working hours have at least one day a week")


def parse_every(text: str) -> int:
    """'14d', '14 days' -> 14."""
    match = _EVERY.match(text.strip().lower())
    if not match or not 1 <= int(match.group(1)) <= MAX_EVERY_DAYS:
        raise ValueError(
            f"`{text}` is not an interval: use whole days from 1d to {MAX_EVERY_DAYS}d, like `14d`"
        )
    return int(match.group(1))


def parse_at(text: str, hours: WorkingHours = DEFAULT_HOURS) -> time:
    """'10:00' -> 10:00, within working hours."""
    match = _AT.match(text.strip())
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour < 24 and minute < 60 and hours.contains_time(time(hour, minute)):
            return time(hour, minute)
    raise ValueError(f"`{text}` is not a time in working hours ({hours}): use HH:MM, like `10:00`")


def parse_working_days(text: str) -> frozenset[int]:
    """'mon-fri', 'sun-thu', 'mon,wed,fri' -> weekday numbers."""
    days: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        match = _DAYS_PART.match(part)
        first, last = match.groups() if match else ("", None)
        if first not in DAY_NAMES or (last is not None and last not in DAY_NAMES):
            raise ValueError("use day names like mon-fri, sun-thu or mon,wed,fri")
        start, stop = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update((start + n) % 7 for n in range((stop - start) % 7 + 1))
    return frozenset(days)


def parse_working_hours(text: str, days: frozenset[int] = DEFAULT_HOURS.days) -> WorkingHours:
    """'09:00-18:00' (24:00 allowed as the end) -> WorkingHours on `days`."""
    # Strictly HH:MM: the hours are in WORKING_TIMEZONE, so an offset (which fromisoformat
    # would take) has no meaning here, and would fail later comparing with naive times.
    match = _HOURS.match(text.strip())
    if match is None:
        raise ValueError("use HH:MM-HH:MM, like 09:00-18:00")
    start_hour, start_minute, end_hour, end_minute = (int(part) for part in match.groups())
    try:
        start = time(start_hour, start_minute)
        end = None if (end_hour, end_minute) == (24, 0) else time(end_hour, end_minute)
    except ValueError:
        raise ValueError("use HH:MM-HH:MM, like 09:00-18:00") from None
    if end is not None and end <= start:
        raise ValueError("the end must come after the start, like 09:00-18:00")
    return WorkingHours(days=days, start=start, end=end)


def _describe_days(days: frozenset[int]) -> str:
    if days == frozenset(range(7)):
        return "every day"
    ordered = sorted(days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{DAY_NAMES[ordered[0]].title()} to {DAY_NAMES[ordered[-1]].title()}"
    return ", ".join(DAY_NAMES[day].title() for day in ordered)


def format_local(moment: datetime, tz: ZoneInfo) -> str:
    """'Mon 30 Nov 2026, 09:00 CET', the way a nudge's schedule reads in its time zone."""
    return moment.astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z")
