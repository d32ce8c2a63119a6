"""What each kind of nudge means, when it falls due, and what its buttons do. Pure Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo

from bot.nudges.timing import (
    DEFAULT_HOURS,
    WorkingHours,
    add_local_days,
    parse_at,
    parse_every,
    working_moment,
)

STALL, DRIFT, REDISTILL = "stall", "drift", "redistill"
REDISTILL_OFFER = "redistill_offer"  # posted at once when someone reports drift
SCHEDULED_KINDS = (STALL, DRIFT, REDISTILL)

STALL_AFTER_DAYS = 3  # the first reminder: this long without a tick
DEFAULT_EVERY_DAYS = {STALL: 2, DRIFT: 7, REDISTILL: 90}
KIND_LABELS = {STALL: "Stalled-phase reminders", DRIFT: "Drift checks", REDISTILL: "Re-distillation reviews"}
NEXT_LABELS = {STALL: "stalled-phase reminder", DRIFT: "drift check", REDISTILL: "re-distillation review"}


class Answer(Enum):
    """A nudge button: the kind of nudge it belongs to, and when that kind comes back."""

    NO_DRIFT = ("no_drift", DRIFT, "No drift", None)
    DRIFT_FOUND = ("drift_found", DRIFT, "Drift found", None)
    SNOOZE_DRIFT = ("snooze_drift", DRIFT, "Snooze 1 day", 1)
    START_REDISTILL = ("start_redistill", REDISTILL, "Start re-distillation", None)
    NOT_YET = ("not_yet", REDISTILL, "Not yet", 30)
    SNOOZE_STALL = ("snooze_stall", STALL, "Snooze 1 day", 1)

    def __init__(self, key: str, kind: str, label: str, snooze_days: int | None) -> None:
        self.key = key
        self.kind = kind
        self.label = label
        self.snooze_days = snooze_days  # None: the regular interval counts from the answer

    @classmethod
    def from_key(cls, key: str) -> Answer | None:
        return next((answer for answer in cls if answer.key == key), None)

    def answers(self, nudge_kind: str) -> bool:
        if self is Answer.START_REDISTILL:
            return nudge_kind in {REDISTILL, REDISTILL_OFFER}
        return self.kind == nudge_kind


BUTTONS: dict[str, tuple[Answer, ...]] = {
    STALL: (Answer.SNOOZE_STALL,),
    DRIFT: (Answer.NO_DRIFT, Answer.DRIFT_FOUND, Answer.SNOOZE_DRIFT),
    REDISTILL: (Answer.START_REDISTILL, Answer.NOT_YET),
    REDISTILL_OFFER: (Answer.START_REDISTILL,),
}


@dataclass(frozen=True)
class Calendar:
    """Where and when a project's nudges may go out: its time zone and the working hours."""

    tz: ZoneInfo
    hours: WorkingHours = DEFAULT_HOURS

    def working_moment(self, moment: datetime, at: time | None = None) -> datetime:
        return working_moment(moment, self.tz, at, self.hours)


@dataclass(frozen=True)
class Cadence:
    """A schedule's settings and where its count starts: due `delay_days` (else `every_days`)
    local days after `anchor_at`, moved into working hours (at `at` o'clock when set)."""

    enabled: bool
    every_days: int
    at: time | None
    anchor_at: datetime | None
    delay_days: int | None = None

    def next_due(self, calendar: Calendar) -> datetime | None:
        return _next_due(self, calendar)

    def counting_from(self, anchor_at: datetime | None, delay_days: int | None = None) -> Cadence:
        """The same settings, counted from `anchor_at` (None: nothing due until re-armed)."""
        # Built directly: dataclasses.replace took a sixth of planning 10,000 schedules.
        return Cadence(
            enabled=self.enabled,
            every_days=self.every_days,
            at=self.at,
            anchor_at=anchor_at,
            delay_days=delay_days,
        )

    def after(self, occurrence: datetime) -> Cadence:
        """The cadence once an occurrence has fallen due: the regular interval from it."""
        return self.counting_from(occurrence)


@lru_cache(maxsize=1024)
def _next_due(cadence: Cadence, calendar: Calendar) -> datetime | None:
    # Cached: planning asks the same question twice per schedule (is a later one due too? and
    # what to store), and working-hours arithmetic is most of planning's cost.
    if not cadence.enabled or cadence.anchor_at is None:
        return None
    days = cadence.delay_days or cadence.every_days
    return calendar.working_moment(add_local_days(cadence.anchor_at, days, calendar.tz), cadence.at)


def due_occurrences(cadence: Cadence, calendar: Calendar, now: datetime) -> list[datetime]:
    """Every occurrence due by `now`, oldest first. When the bot was down for several periods,
    all but the last are superseded: only the last is sent."""
    occurrences: list[datetime] = []
    due = cadence.next_due(calendar)
    while due is not None and due <= now:
        occurrences.append(due)
        cadence = cadence.after(due)
        due = cadence.next_due(calendar)
    return occurrences


@dataclass(frozen=True)
class ScheduleChange:
    kind: str
    enabled: bool | None = None
    every_days: int | None = None
    at: time | None = None


SCHEDULE_USAGE = (
    "Use `/distill schedule <stall|drift|redistill> every <N>d`, `... at HH:MM`, `... on` or `... off`; "
    "`/distill schedule resume` after fixing a paused channel; `/distill timezone <Area/City>`."
)


def parse_schedule_change(text: str, hours: WorkingHours = DEFAULT_HOURS) -> ScheduleChange:
    """'drift every 14d' -> ScheduleChange; raises ValueError with what to type instead."""
    words = text.split()
    if len(words) < 2 or words[0].lower() not in SCHEDULED_KINDS:
        raise ValueError(SCHEDULE_USAGE)
    kind, verb, rest = words[0].lower(), words[1].lower(), " ".join(words[2:])
    if verb in {"on", "off"} and not rest:
        return ScheduleChange(kind, enabled=verb == "on")
    if verb == "every" and rest:
        return ScheduleChange(kind, every_days=parse_every(rest))
    if verb == "at" and rest:
        return ScheduleChange(kind, at=parse_at(rest, hours))
    raise ValueError(SCHEDULE_USAGE)
