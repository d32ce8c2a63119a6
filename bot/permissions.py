"""Who may do what: the one permission table, and the one check every command, button and form goes through.

The README's "Permissions" section shows this same table (a test keeps the two in step).
To guard a new command, button or form: add one `_row(...)` line below and call `refusal()`
with it where the request is handled, before anything is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlmodel import Session

from storage import queries
from storage.models import Project


class Who(Enum):
    ANYONE = "anyone in the channel"
    OWNERS = "owners only"


@dataclass(frozen=True)
class Permission:
    """One row: what a person does, where they do it, and who may."""

    action: str  # reads after "may": "waive an item"
    where: str  # the command, button or form that does it
    who: Who


TABLE: list[Permission] = []


def _row(action: str, where: str, who: Who) -> Permission:
    permission = Permission(action, where, who)
    TABLE.append(permission)
    return permission


# fmt: off
HELP = _row("list the subcommands", "`/distill help`", Who.ANYONE)
START = _row("start the channel's project", "`/distill start [name]`", Who.ANYONE)
STATUS = _row("see where the project stands", "`/distill status`", Who.ANYONE)
TICK = _row("tick or untick an item", "a phase's checkboxes", Who.ANYONE)
RECORD_BARS = _row("record success bars before Phase 2 passes", "*Record success bars* form", Who.ANYONE)
AMEND_BARS = _row("amend the committed success bars (with a reason)", "*Amend success bars* form", Who.OWNERS)
RECORD_EVALUATION = _row("record an evaluation", "*Record evaluation* form", Who.ANYONE)
WAIVE = _row("waive an item (with a reason)", "*Waive an item…* form", Who.OWNERS)
ANSWER_DRIFT = _row("answer a drift check", "*No drift* / *Drift found* buttons", Who.ANYONE)
SNOOZE = _row("snooze a reminder", "*Snooze 1 day* / *Not yet* buttons", Who.ANYONE)
START_CYCLE = _row("start a re-distillation cycle", "*Start re-distillation* button", Who.OWNERS)
LIST_SCHEDULE = _row("see the nudge schedule", "`/distill schedule`", Who.ANYONE)
CHANGE_SCHEDULE = _row("change the nudge schedule", "`/distill schedule <kind> …`", Who.OWNERS)
RESUME_NUDGES = _row("resume paused nudges", "`/distill schedule resume`", Who.OWNERS)
SHOW_TIMEZONE = _row("see the project's time zone", "`/distill timezone`", Who.ANYONE)
CHANGE_TIMEZONE = _row("change the project's time zone", "`/distill timezone Area/City`", Who.OWNERS)
LIST_OWNERS = _row("see the owners", "`/distill owners`", Who.ANYONE)
CHANGE_OWNERS = _row("add or remove an owner", "`/distill owners add/remove @someone`", Who.OWNERS)
STOP = _row("stop the project (with its outcome)", "`/distill stop` and its form", Who.OWNERS)
REOPEN = _row("reopen a passed phase (with a reason)", "`/distill reopen N why`", Who.OWNERS)
ROLLOUT = _row("record the rollout stage", "`/distill rollout shadow/5/25/100`", Who.OWNERS)
HISTORY = _row("read the project's history", "`/distill history`", Who.ANYONE)
EXPORT = _row("export the record into the thread", "`/distill export`", Who.ANYONE)
# fmt: on

NOT_HERE = "That belongs to a project in another channel, or to an earlier cycle."


def owners_only(permission: Permission) -> str:
    return f"Only the project's owners may {permission.action}. `/distill owners` lists them."


def refusal(
    session: Session,
    project: Project,
    permission: Permission,
    *,
    user_id: str,
    team_id: str,
    channel_id: str | None = None,
) -> str | None:
    """Why this user may not do this on this project, or None when they may.

    `channel_id` is where the request came from (forms carry none: their project id is
    checked against the team, and the form was opened through a checked button)."""
    if project.team_id != team_id or (channel_id is not None and project.channel_id != channel_id):
        return NOT_HERE
    if permission.who is Who.OWNERS and user_id not in queries.list_owners(session, project.id or 0):
        return owners_only(permission)
    return None


def markdown_table() -> str:
    """The table as the README shows it."""
    lines = ["| what | where | who may |", "| --- | --- | --- |"]
    lines += [f"| {p.action} | {p.where} | {p.who.value} |" for p in TABLE]
    return "\n".join(lines)
