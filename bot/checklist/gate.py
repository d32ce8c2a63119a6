"""The checklist's rules: which phase is open, who may tick or untick what.

Plain Python over plain values, so the rules read (and test) without Slack or a database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.checklist.evidence import Evidence, missing_evidence
from bot.checklist.template import Item, Template

# A re-distillation cycle keeps the scoping and the committed success bars (the first two
# phases) as they stand, and reopens everything from data preparation on.
CYCLE_CARRIES_PHASES = 2


class Change(Enum):
    TICK = "tick"
    UNTICK = "untick"
    NONE = "none"  # already as asked: a double click, a retry, or a stale client agreeing


@dataclass(frozen=True)
class Refusal:
    """Why a click changes nothing; shown to the clicking user only."""

    reason: str
    # The user's client shows a state that is no longer true: redraw the message for them.
    redraw: bool = False


@dataclass(frozen=True)
class TickState:
    ticked_by: str
    version: int  # the project version at which the tick was made


@dataclass(frozen=True)
class Standing:
    """Where a project stands: its current phase (the last one once shipped)."""

    current_phase: int
    shipped: bool


def decide_toggle(
    template: Template,
    standing: Standing,
    *,
    phase_number: int,
    item_key: str,
    want_ticked: bool,
    existing: TickState | None,
    user_id: str,
    seen_version: int,
    missing_evidence: str | None = None,
    reopened: bool = False,
) -> Change | Refusal:
    """Decide what a click on one item's checkbox does.

    `missing_evidence` explains why the item's number is not recorded yet, if it is not.
    `seen_version` is the project version the user's message was drawn at. Slack sends what
    the client showed, which may be stale: an untick only removes a tick the user could see
    (made at or before `seen_version`) or made themselves, so a stale client never unticks
    a teammate's newer tick. A `reopened` item (see `reopened_items`) can be ticked though
    its phase has passed.
    """
    if not 1 <= phase_number <= len(template.phases) or item_key not in _keys(template, phase_number):
        return Refusal("That item is not part of this checklist any more.")
    if (standing.shipped or phase_number < standing.current_phase) and not reopened:
        return Refusal(f"Phase {phase_number} is complete; its checklist is read-only.")
    if phase_number > standing.current_phase:
        return Refusal(
            f"Phase {phase_number} is locked until every item of Phase {standing.current_phase} is ticked."
        )
    if want_ticked:
        if existing:
            return Change.NONE
        if missing_evidence:
            return Refusal(missing_evidence, redraw=True)
        return Change.TICK
    if existing is None:
        return Change.NONE
    if existing.ticked_by != user_id and existing.version > seen_version:
        return Refusal(
            f"<@{existing.ticked_by}> ticked this item after your view of the checklist was drawn, "
            "so it stays ticked. Untick it again if you mean to.",
            redraw=True,
        )
    return Change.UNTICK


def decide_waive(
    template: Template,
    standing: Standing,
    *,
    phase_number: int,
    item_key: str,
    done: set[str],
) -> Refusal | None:
    """May this item be waived now? None means yes. (Who may waive is bot/permissions.py's.)"""
    if (
        standing.shipped
        or phase_number != standing.current_phase
        or item_key not in _keys(template, phase_number)
    ):
        return Refusal(f"Only items of the open phase (Phase {standing.current_phase}) can be waived.")
    if item_key in done:
        return Refusal("That item is already ticked or waived.")
    return None


def counted(template: Template, ticked: set[str], waived: set[str], proof: Evidence) -> set[str]:
    """Items that count for their gate: waived ones, and ticked ones whose recorded evidence
    still holds (a newer evaluation can fail a slice that an earlier one passed)."""
    holding = {
        key
        for key in ticked
        if (item := template.item(key)) is None or missing_evidence(item.evidence, proof) is None
    }
    return holding | waived


def reopened_items(template: Template, standing: Standing, ticked: set[str], done: set[str]) -> set[str]:
    """Items of phases already passed that count no more and were never ticked: their waiver
    ended. They are open again, with a working checkbox, though the project has moved on
    (the gates ahead do not wait for them: the gate they belonged to was passed rightly)."""
    last_passed = len(template.phases) if standing.shipped else standing.current_phase - 1
    return {
        item.key
        for number in range(1, last_passed + 1)
        for item in template.phase(number).items
        if item.key not in done and item.key not in ticked
    }


def is_phase_complete(template: Template, phase_number: int, done: set[str]) -> bool:
    """`done`: the items ticked or covered by a waiver in force."""
    return _keys(template, phase_number) <= done


def open_items(template: Template, phase_number: int, done: set[str]) -> list[Item]:
    return [item for item in template.phase(phase_number).items if item.key not in done]


def next_standing(template: Template, standing: Standing, done: set[str]) -> Standing:
    """The standing after a change: the gate opens the next phase once the current one is done."""
    if standing.shipped or not is_phase_complete(template, standing.current_phase, done):
        return standing
    if standing.current_phase == len(template.phases):
        return Standing(current_phase=standing.current_phase, shipped=True)
    return Standing(current_phase=standing.current_phase + 1, shipped=False)


def _keys(template: Template, phase_number: int) -> set[str]:
    return {item.key for item in template.phase(phase_number).items}
