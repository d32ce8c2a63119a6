"""Working hours, local days and daylight saving, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.nudges.timing import add_local_days, parse_at, parse_every, working_moment, zone

BERLIN = zone("Europe/Berlin")
NEW_YORK = zone("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_inside_working_hours_is_now_and_outside_is_the_next_opening() -> None:
    wednesday_noon_berlin = utc(2026, 11, 25, 11, 0)
    assert working_moment(wednesday_noon_berlin, BERLIN) == wednesday_noon_berlin
    assert working_moment(utc(2026, 11, 25, 17, 0), BERLIN) == utc(2026, 11, 26, 8, 0)  # 18:00 -> Thu 09:00
    assert working_moment(utc(2026, 11, 25, 5, 0), BERLIN) == utc(2026, 11, 25, 8, 0)  # 06:00 -> 09:00
    assert working_moment(utc(2026, 11, 27, 17, 30), BERLIN) == utc(2026, 11, 30, 8, 0)  # Fri evening -> Mon
    assert working_moment(utc(2026, 11, 28, 12, 0), NEW_YORK) == utc(
        2026, 11, 30, 14, 0
    )  # Sat -> Mon 09:00 EST


def test_a_fixed_hour_is_the_next_working_day_at_that_hour() -> None:
    assert working_moment(utc(2026, 11, 25, 8, 0), BERLIN, time(10, 0)) == utc(2026, 11, 25, 9, 0)
    assert working_moment(utc(2026, 11, 25, 9, 1), BERLIN, time(10, 0)) == utc(2026, 11, 26, 9, 0)
    assert working_moment(utc(2026, 11, 27, 10, 0), BERLIN, time(10, 0)) == utc(2026, 11, 30, 9, 0)


def test_local_days_keep_the_wall_clock_across_daylight_saving() -> None:
    # Berlin leaves summer time on Sunday 25 October 2026: 09:00 is 07:00 UTC before, 08:00 after.
    before = utc(2026, 10, 21, 7, 0)
    after = add_local_days(before, 7, BERLIN)
    assert after == utc(2026, 10, 28, 8, 0)
    assert after.astimezone(BERLIN).hour == 9
    # ... and enters it on 28 March 2027.
    assert add_local_days(utc(2027, 3, 24, 8, 0), 7, BERLIN) == utc(2027, 3, 31, 7, 0)
    assert (after - before).total_seconds() == 7 * 24 * 3600 + 3600


@pytest.mark.parametrize("text", ["0d", "400d", "7", "7w", "-3d", "d", "1.5d", ""])
def test_bad_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not an interval"):
        parse_every(text)


def test_intervals_and_times() -> None:
    assert parse_every("14d") == 14 and parse_every("180 days") == 180 and parse_every("1 day") == 1
    assert parse_at("10:00") == time(10, 0) and parse_at("9:30") == time(9, 30)
    for bad in ("08:59", "18:00", "25:00", "10:60", "ten", "10"):
        with pytest.raises(ValueError, match="working hours"):
            parse_at(bad)


def test_time_zones_are_iana_names() -> None:
    assert zone("Europe/Berlin").key == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../etc/passwd", " Europe/Berlin", "", "CEST+2"):
        with pytest.raises(ValueError):
            zone(bad)
