"""Each project's schedules: created with defaults, re-armed when the project moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from sqlmodel import Session

from bot.nudges import rules
from bot.nudges.timing import DEFAULT_HOURS, WorkingHours, zone
from bot.rendering import nudges as render
from storage import queries
from storage.models import Project, ProjectStatus, Schedule


@dataclass(frozen=True)
class NudgePolicy:
    """The workspace-wide settings nudges follow: the fallback time zone, the working hours."""

    default_timezone: str = "UTC"
    hours: WorkingHours = DEFAULT_HOURS

    def calendar(self, project: Project) -> rules.Calendar:
        return self.calendar_for(project.timezone)

    def calendar_for(self, timezone: str | None) -> rules.Calendar:
        """The calendar of a project whose time zone is `timezone` (None: the default)."""
        try:
            tz = zone(timezone or self.default_timezone)
        except ValueError:  # a zone this machine's tz database no longer has
            tz = zone(self.default_timezone)
        return rules.Calendar(tz, self.hours)


def ensure_schedules(session: Session, project: Project) -> dict[str, Schedule]:
    """The project's schedules by kind, created with the default intervals when missing."""
    existing = {schedule.kind: schedule for schedule in queries.list_schedules(session, project.id or 0)}
    for kind in rules.SCHEDULED_KINDS:
        if kind not in existing:
            existing[kind] = queries.add_schedule(
                session, project.id or 0, kind=kind, every_days=rules.DEFAULT_EVERY_DAYS[kind]
            )
    return existing


def cadence_of(schedule: Schedule | queries.DueSchedule) -> rules.Cadence:
    return rules.Cadence(
        enabled=schedule.enabled,
        every_days=schedule.every_days,
        at=time.fromisoformat(schedule.at_time) if schedule.at_time else None,
        anchor_at=schedule.anchor_at,
        delay_days=schedule.delay_days,
    )


def store_cadence(
    session: Session, schedule: Schedule, cadence: rules.Cadence, calendar: rules.Calendar
) -> None:
    schedule.enabled = cadence.enabled
    schedule.every_days = cadence.every_days
    schedule.at_time = cadence.at.strftime("%H:%M") if cadence.at else None
    schedule.anchor_at = cadence.anchor_at
    schedule.delay_days = cadence.delay_days
    schedule.next_due_at = cadence.next_due(calendar)
    session.add(schedule)


def next_due_change(schedule_id: int, cadence: rules.Cadence, calendar: rules.Calendar) -> dict[str, object]:
    """What store_cadence writes when only where the count starts changes, for store_next_due."""
    return {
        "id": schedule_id,
        "anchor_at": cadence.anchor_at,
        "delay_days": cadence.delay_days,
        "next_due_at": cadence.next_due(calendar),
    }


def on_progress(session: Session, project: Project, now: datetime, policy: NudgePolicy) -> None:
    """Re-arm after a tick, an untick, a phase opening or shipping: the stall count starts
    again; shipping stops stall reminders and starts the maintenance schedules."""
    calendar = policy.calendar(project)
    schedules = ensure_schedules(session, project)
    shipped = project.status == ProjectStatus.SHIPPED
    project.last_activity_at = now
    session.add(project)
    # Shipping stops stall reminders; any other progress starts the quiet-days count again.
    stall_from = (None, None) if shipped else (now, rules.STALL_AFTER_DAYS)
    stall = cadence_of(schedules[rules.STALL]).counting_from(*stall_from)
    store_cadence(session, schedules[rules.STALL], stall, calendar)
    for kind in (rules.DRIFT, rules.REDISTILL):
        cadence = cadence_of(schedules[kind])
        if shipped and cadence.anchor_at is None:
            cadence = cadence.after(now)
        store_cadence(session, schedules[kind], cadence, calendar)


def refresh(session: Session, project: Project, policy: NudgePolicy) -> None:
    """Recompute next due times after a change of settings or time zone."""
    calendar = policy.calendar(project)
    for schedule in ensure_schedules(session, project).values():
        store_cadence(session, schedule, cadence_of(schedule), calendar)


def describe(session: Session, project: Project, policy: NudgePolicy) -> str:
    """The `/distill schedule` answer."""
    calendar = policy.calendar(project)
    lines = []
    for kind, schedule in ensure_schedules(session, project).items():
        when = f"at {schedule.at_time}" if schedule.at_time else "in working hours"
        if kind == rules.STALL:
            cadence = f"after {rules.STALL_AFTER_DAYS} days without a tick, then every {schedule.every_days}d"
        else:
            cadence = f"every {schedule.every_days}d once shipped"
        state = (
            "off"
            if not schedule.enabled
            else f"next: {render.next_due_text(schedule.next_due_at, calendar.tz)}"
        )
        lines.append((rules.KIND_LABELS[kind], f"{cadence}, {when} · {state}"))
    return render.schedule_text(lines, calendar, project.nudges_paused_reason)


def next_nudge_line(session: Session, project: Project, policy: NudgePolicy) -> str:
    """For `/distill status`: the next nudge, or why none will come."""
    if project.nudges_paused_reason:
        return f":double_vertical_bar: Nudges are paused: {project.nudges_paused_reason}"
    due = [
        (schedule.next_due_at, schedule.kind)
        for schedule in ensure_schedules(session, project).values()
        if schedule.enabled and schedule.next_due_at
    ]
    if not due:
        return "No nudge is scheduled."
    moment, kind = min(due)
    tz = policy.calendar(project).tz
    return f"Next nudge: {rules.NEXT_LABELS[kind]}, {render.next_due_text(moment, tz)}."
