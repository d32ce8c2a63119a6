"""The nudge rules and calendar as pure functions: cadences, buttons, schedule commands,
working days and hours. Written to kill what mutation testing showed no fast test guards."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.nudges import rules
from bot.nudges.rules import Answer, Cadence, Calendar, ScheduleChange, due_occurrences
from bot.nudges.timing import (
    DEFAULT_HOURS,
    WorkingHours,
    _at,
    _describe_days,
    add_local_days,
    format_local,
    parse_at,
    parse_every,
    parse_working_days,
    parse_working_hours,
    working_moment,
    zone,
)

BERLIN = zone("Europe/Berlin")
TOKYO = zone("Asia/Tokyo")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- buttons -----------------------------------------------------------------------------------


def test_each_button_is_found_by_its_key_and_answers_its_own_kind() -> None:
    assert Answer.from_key("no_drift") is Answer.NO_DRIFT
    assert Answer.from_key("not_yet") is Answer.NOT_YET
    assert Answer.from_key("snooze_stall") is Answer.SNOOZE_STALL
    assert Answer.from_key("nope") is None and Answer.from_key("") is None
    assert Answer.NO_DRIFT.answers(rules.DRIFT) and not Answer.NO_DRIFT.answers(rules.STALL)
    assert Answer.START_REDISTILL.answers(rules.REDISTILL)
    assert Answer.START_REDISTILL.answers(rules.REDISTILL_OFFER)
    assert not Answer.START_REDISTILL.answers(rules.DRIFT)
    assert not Answer.NOT_YET.answers(rules.REDISTILL_OFFER)


# --- cadences ----------------------------------------------------------------------------------

CALENDAR = Calendar(BERLIN)
WEEKLY = Cadence(enabled=True, every_days=7, at=None, anchor_at=utc(2026, 11, 23, 10, 0))  # Mon 11:00 local


def test_a_cadence_is_due_its_interval_after_its_anchor_inside_working_hours() -> None:
    assert WEEKLY.next_due(CALENDAR) == utc(2026, 11, 30, 10, 0)
    # A first delay overrides the interval once; an hour of the day is kept.
    assert WEEKLY.counting_from(WEEKLY.anchor_at, delay_days=3).next_due(CALENDAR) == utc(2026, 11, 26, 10, 0)
    at_noon = Cadence(enabled=True, every_days=7, at=time(12, 0), anchor_at=WEEKLY.anchor_at)
    assert at_noon.next_due(CALENDAR) == utc(2026, 11, 30, 11, 0)
    at_ten = Cadence(enabled=True, every_days=7, at=time(10, 0), anchor_at=WEEKLY.anchor_at)
    assert at_ten.next_due(CALENDAR) == utc(2026, 12, 1, 9, 0)  # Monday's 10:00 had passed at 11:00
    # Local calendar days, in the calendar's own zone: Tokyo's Monday 19:00 moves to Tuesday 09:00.
    assert WEEKLY.next_due(Calendar(TOKYO)) == utc(2026, 12, 1, 0, 0)
    # Working hours come from the calendar.
    weekends = Calendar(BERLIN, WorkingHours(days=frozenset({5, 6})))
    assert WEEKLY.next_due(weekends) == utc(2026, 12, 5, 8, 0)


def test_a_cadence_counts_local_days_across_daylight_saving() -> None:
    # Wednesday 12:00 in Berlin, summer time; a week later it is winter time and still 12:00 there.
    noon_cest = Cadence(enabled=True, every_days=7, at=None, anchor_at=utc(2026, 10, 21, 10, 0))
    assert noon_cest.next_due(CALENDAR) == utc(2026, 10, 28, 11, 0)


def test_a_cadence_that_is_off_or_not_anchored_is_never_due() -> None:
    assert (
        Cadence(enabled=False, every_days=7, at=None, anchor_at=WEEKLY.anchor_at).next_due(CALENDAR) is None
    )
    assert Cadence(enabled=True, every_days=7, at=None, anchor_at=None).next_due(CALENDAR) is None
    assert WEEKLY.counting_from(None).next_due(CALENDAR) is None


def test_counting_from_and_after_keep_the_settings_and_move_the_anchor() -> None:
    moved = WEEKLY.counting_from(utc(2026, 12, 1, 10, 0), delay_days=2)
    assert (moved.enabled, moved.every_days, moved.at) == (True, 7, None)
    assert (moved.anchor_at, moved.delay_days) == (utc(2026, 12, 1, 10, 0), 2)
    after = moved.after(utc(2026, 12, 3, 10, 0))
    assert (after.anchor_at, after.delay_days, after.every_days) == (utc(2026, 12, 3, 10, 0), None, 7)


def test_due_occurrences_lists_each_due_one_oldest_first_up_to_now_inclusive() -> None:
    assert due_occurrences(WEEKLY, CALENDAR, utc(2026, 11, 30, 9, 59)) == []
    assert due_occurrences(WEEKLY, CALENDAR, utc(2026, 11, 30, 10, 0)) == [utc(2026, 11, 30, 10, 0)]
    assert due_occurrences(WEEKLY, CALENDAR, utc(2026, 12, 15, 12, 0)) == [
        utc(2026, 11, 30, 10, 0),
        utc(2026, 12, 7, 10, 0),
        utc(2026, 12, 14, 10, 0),
    ]
    off = Cadence(enabled=False, every_days=7, at=None, anchor_at=WEEKLY.anchor_at)
    assert due_occurrences(off, CALENDAR, utc(2027, 1, 1)) == []


# --- schedule commands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "change"),
    [
        ("drift on", ScheduleChange("drift", enabled=True)),
        ("Stall OFF", ScheduleChange("stall", enabled=False)),
        ("redistill every 30d", ScheduleChange("redistill", every_days=30)),
        ("drift every 14 days", ScheduleChange("drift", every_days=14)),
        ("drift at 10:30", ScheduleChange("drift", at=time(10, 30))),
    ],
)
def test_schedule_changes_are_parsed(text: str, change: ScheduleChange) -> None:
    assert rules.parse_schedule_change(text) == change


@pytest.mark.parametrize(
    "text", ["", "drift", "weekly on", "drift on now", "drift every", "drift at", "drift sometimes 3d"]
)
def test_a_bad_schedule_change_is_answered_with_the_usage(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        rules.parse_schedule_change(text)
    assert str(raised.value) == rules.SCHEDULE_USAGE


def test_a_schedule_hour_must_be_inside_the_teams_working_hours() -> None:
    early = WorkingHours(start=time(7, 0), end=time(15, 0))
    assert rules.parse_schedule_change("drift at 07:30", early) == ScheduleChange("drift", at=time(7, 30))
    with pytest.raises(ValueError, match="07:00 to 15:00"):
        rules.parse_schedule_change("drift at 16:00", early)
    with pytest.raises(ValueError, match="not an interval"):
        rules.parse_schedule_change("drift every 367d")


# --- working hours and days --------------------------------------------------------------------


def test_working_hours_describe_themselves_and_contain_their_bounds() -> None:
    assert str(DEFAULT_HOURS) == "Mon to Fri, 09:00 to 18:00"
    assert str(WorkingHours(days=frozenset(range(7)), end=None)) == "every day, 09:00 to 24:00"
    assert DEFAULT_HOURS.contains_time(time(9, 0)) and not DEFAULT_HOURS.contains_time(time(18, 0))
    assert not DEFAULT_HOURS.contains_time(time(8, 59))
    assert WorkingHours(end=None).contains_time(time(23, 59))


@pytest.mark.parametrize(
    ("days", "described"),
    [
        ({0, 1, 2, 3, 4}, "Mon to Fri"),
        ({1, 2, 3}, "Tue to Thu"),
        ({0, 1}, "Mon, Tue"),
        ({0, 2, 4}, "Mon, Wed, Fri"),
        ({6, 0, 1, 2, 3}, "Mon, Tue, Wed, Thu, Sun"),
        ({4}, "Fri"),
        (set(range(7)), "every day"),
    ],
)
def test_working_days_read_as_a_range_or_a_list(days: set[int], described: str) -> None:
    assert _describe_days(frozenset(days)) == described


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("mon-fri", {0, 1, 2, 3, 4}),
        ("Sun-Thu", {6, 0, 1, 2, 3}),
        ("mon, wed, fri", {0, 2, 4}),
        ("sat", {5}),
        ("fri-mon", {4, 5, 6, 0}),
        ("mon-sun", set(range(7))),
        ("tue-tue,thu", {1, 3}),
    ],
)
def test_working_days_parse(text: str, days: set[int]) -> None:
    assert parse_working_days(text) == frozenset(days)


@pytest.mark.parametrize("text", ["weekdays", "mon-xyz", "mon-fri-sat", "", "mon;fri", "mon-", "mon,"])
def test_bad_working_days_are_refused(text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_working_days(text)
    assert str(raised.value) == "use day names like mon-fri, sun-thu or mon,wed,fri"


def test_working_hours_parse_with_24_00_as_the_end_of_the_day() -> None:
    weekend = frozenset({5, 6})
    assert parse_working_hours(" 08:30-17:00 ", weekend) == WorkingHours(weekend, time(8, 30), time(17, 0))
    assert parse_working_hours("00:00-24:00") == WorkingHours(DEFAULT_HOURS.days, time(0, 0), None)
    for bad, reason in [
        ("9-5", "use HH:MM-HH:MM, like 09:00-18:00"),
        ("09:00", "use HH:MM-HH:MM, like 09:00-18:00"),
        ("09:00-25:00", "use HH:MM-HH:MM, like 09:00-18:00"),
        ("18:00-09:00", "the end must come after the start, like 09:00-18:00"),
        ("09:00-09:00", "the end must come after the start, like 09:00-18:00"),
        # The hours are in the WORKING_TIMEZONE: an offset here is refused, not compared.
        ("09:00-18:00+02:00", "use HH:MM-HH:MM, like 09:00-18:00"),
        ("09:00+01:00-18:00", "use HH:MM-HH:MM, like 09:00-18:00"),
        ("09:00:30-18:00", "use HH:MM-HH:MM, like 09:00-18:00"),
    ]:
        with pytest.raises(ValueError) as raised:
            parse_working_hours(bad)
        assert str(raised.value) == reason


def test_intervals_and_hours_at_their_limits() -> None:
    assert parse_every("366d") == 366 and parse_every(" 1D ") == 1
    with pytest.raises(ValueError, match="from 1d to 366d"):
        parse_every("367d")
    assert parse_at("17:59") == time(17, 59)
    with pytest.raises(ValueError, match="09:00 to 17:30"):
        parse_at("17:45", WorkingHours(end=time(17, 30)))  # the minutes count, not just the hour
    everything = WorkingHours(days=frozenset(range(7)), start=time(0, 0), end=None)
    assert parse_at("23:59", everything) == time(23, 59) and parse_at("0:00", everything) == time(0, 0)
    for bad in ("24:00", "23:60", "24:30"):
        with pytest.raises(ValueError, match=r"not a time in working hours \(every day, 00:00 to 24:00\)"):
            parse_at(bad, everything)


# --- instants and zones ------------------------------------------------------------------------


def test_instants_are_returned_in_utc() -> None:
    assert add_local_days(utc(2026, 11, 23, 10, 0), 1, BERLIN).tzinfo is UTC
    assert _at(date(2026, 11, 23), time(9, 0), BERLIN).tzinfo is UTC
    assert working_moment(utc(2026, 11, 25, 5, 0), BERLIN).tzinfo is UTC


def test_working_moment_at_the_edges() -> None:
    # Exactly at the opening and exactly at a fixed hour: that moment itself.
    assert working_moment(utc(2026, 11, 25, 8, 0), BERLIN) == utc(2026, 11, 25, 8, 0)
    assert working_moment(utc(2026, 11, 25, 9, 0), BERLIN, time(10, 0)) == utc(2026, 11, 25, 9, 0)
    # The day's date is the local one: 23:30 UTC on Tuesday is already Wednesday in Tokyo.
    assert working_moment(utc(2026, 11, 24, 23, 30), TOKYO) == utc(2026, 11, 25, 0, 0)
    # A day that runs to midnight includes the late evening; the next day starts at its start.
    late = WorkingHours(start=time(20, 0), end=None)
    assert working_moment(utc(2026, 11, 25, 22, 30), BERLIN, hours=late) == utc(2026, 11, 25, 22, 30)
    assert working_moment(utc(2026, 11, 25, 23, 0), BERLIN, hours=late) == utc(2026, 11, 26, 19, 0)
    # One working day a week, just missed: a whole week later (the eighth day looked at).
    mondays = WorkingHours(days=frozenset({0}))
    assert working_moment(utc(2026, 11, 23, 17, 0), BERLIN, hours=mondays) == utc(2026, 11, 30, 8, 0)
    assert working_moment(utc(2026, 11, 23, 10, 0), BERLIN, time(10, 0), mondays) == utc(2026, 11, 30, 9, 0)


def test_the_local_day_counts_west_of_utc_too() -> None:
    # 02:00 UTC on Wednesday is Tuesday 21:00 in New York: inside Tuesday's evening hours.
    evenings = WorkingHours(start=time(20, 0), end=None)
    new_york = zone("America/New_York")
    assert working_moment(utc(2026, 11, 25, 2, 0), new_york, hours=evenings) == utc(2026, 11, 25, 2, 0)


def test_no_working_day_is_a_programming_error() -> None:
    with pytest.raises(AssertionError) as raised:
        working_moment(utc(2026, 11, 23, 10, 0), BERLIN, hours=WorkingHours(days=frozenset()))
    assert str(raised.value) == "working hours have at least one day a week"


def test_local_format_and_zone_errors() -> None:
    assert format_local(utc(2026, 11, 30, 8, 0), BERLIN) == "Mon 30 Nov 2026, 09:00 CET"
    assert format_local(utc(2026, 7, 1, 8, 0), BERLIN) == "Wed 01 Jul 2026, 10:00 CEST"
    with pytest.raises(ValueError) as raised:
        zone("Europe/../Berlin")
    assert str(raised.value) == "'Europe/../Berlin' is not a time zone name"
    with pytest.raises(ValueError) as raised:
        zone("Europe/Berlin ")
    assert str(raised.value) == "'Europe/Berlin ' is not a time zone name"
    with pytest.raises(ValueError) as raised:
        zone("Mars/Olympus")
    assert (
        str(raised.value) == "'Mars/Olympus' is not a time zone I know; use an IANA name like Europe/Berlin"
    )
