"""Block Kit for every message the bot sends, drawn from a snapshot of stored state.

Everything here fits Slack's limits by construction, given a template that passed
validation (checklist/template.py): one section per item, at most 20 items a phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.checklist.gate import CYCLE_CARRIES_PHASES, open_items
from bot.checklist.template import Template
from bot.rendering.ids import ItemRef, item_action_id, item_block_id

Block = dict[str, Any]
PROGRESS_BAR_WIDTH = 16


@dataclass(frozen=True)
class TickView:
    user_id: str
    at: datetime


@dataclass(frozen=True)
class ProjectView:
    """What the renderers need to know about a project, read in one transaction."""

    project_id: int
    name: str
    started_by: str
    started_at: datetime
    current_phase: int
    shipped: bool
    version: int
    ticks: Mapping[str, TickView] = field(default_factory=dict)
    shipped_at: datetime | None = None
    permalink: str | None = None
    cycle: int = 1
    closed: bool = False  # a later cycle has taken over

    @property
    def ticked_keys(self) -> set[str]:
        return set(self.ticks)


@dataclass(frozen=True)
class Message:
    """A message's notification `text` (always sent: Slack shows it where blocks cannot go) and blocks."""

    text: str
    blocks: list[Block]


HELP_TEXT = "\n".join(
    [
        "*Distill Bot* runs the model-distillation checklist in this channel, one phase at a time.",
        "• `/distill start [project name]`: open the project's checklist thread "
        "(the name defaults to the channel's)",
        "• `/distill status`: where the project stands, what is still open, and a link to the thread",
        "• `/distill schedule`: the project's nudges and when each comes next "
        "(`/distill schedule drift every 14d`, `... at 10:00`, `... off`)",
        "• `/distill timezone Area/City`: the time zone nudges follow",
        "• `/distill help`: this list",
        "Tick items in the thread; each phase opens when every item of the one before is ticked.",
    ]
)


def escape(text: str) -> str:
    """Escape the three characters mrkdwn gives meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_date(moment: datetime) -> str:
    """A date each reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def phase_heading(template: Template, phase_number: int) -> str:
    phase = template.phase(phase_number)
    return f"Phase {phase_number} of {len(template.phases)}: {phase.title}"


def progress_line(template: Template, view: ProjectView) -> str:
    ticked, total = len(view.ticked_keys), template.item_count
    if view.shipped:
        return f"Shipped · {ticked}/{total} items"
    return f"Phase {view.current_phase} of {len(template.phases)} · {ticked}/{total} items"


def parent_message(template: Template, view: ProjectView) -> Message:
    ticked, total = len(view.ticked_keys), template.item_count
    filled = round(PROGRESS_BAR_WIDTH * ticked / total)
    bar = "▰" * filled + "▱" * (PROGRESS_BAR_WIDTH - filled)
    if view.shipped:
        assert view.shipped_at is not None
        standing = f":rocket: *Shipped* {slack_date(view.shipped_at)} · all {total} items ticked"
    else:
        phase = template.phase(view.current_phase)
        standing = (
            f"*Phase {view.current_phase} of {len(template.phases)}: {escape(phase.title)}*"
            f" · {ticked}/{total} items"
        )
    cycle = ""
    if view.cycle > 1:
        cycle = (
            f"Cycle {view.cycle}: phases 1–{CYCLE_CARRIES_PHASES} carried over from cycle {view.cycle - 1} · "
        )
    if view.closed:
        standing += f"\n:lock: Cycle {view.cycle} is closed; work goes on in cycle {view.cycle + 1}."
    return Message(
        text=f"Distillation checklist for {escape(view.name)}: {progress_line(template, view)}",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": f"Distillation: {view.name}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{standing}\n`{bar}`"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{cycle}Started by <@{view.started_by}> {slack_date(view.started_at)}"
                        f" · {escape(template.title)} · the phases are in this thread",
                    }
                ],
            },
        ],
    )


def phase_message(template: Template, view: ProjectView, phase_number: int) -> Message:
    """The open phase as checkboxes; a passed phase as a read-only summary."""
    if view.shipped or phase_number < view.current_phase:
        return _phase_summary(template, view, phase_number)
    return _open_phase(template, view, phase_number)


def _open_phase(template: Template, view: ProjectView, phase_number: int) -> Message:
    phase = template.phase(phase_number)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": phase_heading(template, phase_number)}}
    ]
    if phase.intro:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(phase.intro)}]})
    for item in phase.items:
        tick = view.ticks.get(item.key)
        text = f"*{escape(item.title)}*\n{escape(item.reason)}"
        if tick:
            text += f"\n:white_check_mark: <@{tick.user_id}> {slack_date(tick.at)}"
        option = {"text": {"type": "plain_text", "text": "Done"}, "value": item.key}
        checkboxes: Block = {"type": "checkboxes", "action_id": item_action_id(item.key), "options": [option]}
        if tick:
            checkboxes["initial_options"] = [option]
        blocks.append(
            {
                "type": "section",
                "block_id": item_block_id(ItemRef(view.project_id, phase_number, item.key, view.version)),
                "text": {"type": "mrkdwn", "text": text},
                "accessory": checkboxes,
            }
        )
    remaining = len(open_items(template, phase_number, view.ticked_keys))
    done = len(phase.items) - remaining
    unlocks = (
        f"Phase {phase_number + 1} opens" if phase_number < len(template.phases) else "The project ships"
    )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{done}/{len(phase.items)} ticked · {unlocks} when every item is ticked.",
                }
            ],
        }
    )
    return Message(
        text=f"{phase_heading(template, phase_number)} · {done}/{len(phase.items)} ticked", blocks=blocks
    )


def _phase_summary(template: Template, view: ProjectView, phase_number: int) -> Message:
    phase = template.phase(phase_number)
    heading = f"{phase_heading(template, phase_number)} (complete)"
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": heading}}]
    for item in phase.items:
        tick = view.ticks.get(item.key)
        who = f"<@{tick.user_id}> {slack_date(tick.at)}" if tick else "not ticked"
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f":white_check_mark: *{escape(item.title)}*\n{who}"},
            }
        )
    return Message(text=heading, blocks=blocks)


def phase_done_message(template: Template, view: ProjectView, phase_number: int) -> Message:
    """The one-line notice posted in the thread when a phase's gate opens."""
    if phase_number == len(template.phases):
        text = f":rocket: Phase {phase_number} complete: *{escape(view.name)}* has shipped."
    else:
        following = template.phase(phase_number + 1)
        text = (
            f"Phase {phase_number} complete. Phase {phase_number + 1} is open: *{escape(following.title)}*."
        )
    return Message(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def status_text(template: Template, view: ProjectView) -> str:
    link = (
        f"<{view.permalink}|Open the checklist thread>"
        if view.permalink
        else "The checklist thread is in this channel."
    )
    if view.shipped:
        assert view.shipped_at is not None
        return f"*{escape(view.name)}* shipped {slack_date(view.shipped_at)}; all items are ticked.\n{link}"
    still_open = open_items(template, view.current_phase, view.ticked_keys)
    lines = [
        f"*{escape(view.name)}* · {escape(phase_heading(template, view.current_phase))}"
        f" · {len(view.ticked_keys)}/{template.item_count} items ticked",
        f"Still open in Phase {view.current_phase}:",
        *(f"• {escape(item.title)}" for item in still_open),
        link,
    ]
    return "\n".join(lines)
