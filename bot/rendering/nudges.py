"""Block Kit for nudges and the schedule listing. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.checklist.gate import open_items
from bot.checklist.template import Template
from bot.nudges import rules
from bot.nudges.timing import format_local
from bot.rendering.messages import Block, Message, ProjectView, escape, phase_heading, slack_date
from bot.rendering.mrkdwn import MESSAGE_TEXT_BUDGET, pack

NUDGE_ACTION_PREFIX = "nudge:"
NUDGE_ACTION_PATTERN = re.compile(r"^nudge:")


@dataclass(frozen=True)
class NudgeView:
    nudge_id: int
    kind: str
    due_at: datetime
    answer: rules.Answer | None = None
    answered_by: str | None = None
    answered_at: datetime | None = None
    drift_reported_by: str | None = None  # for the re-distillation offer


def nudge_action_id(answer: rules.Answer) -> str:
    return f"{NUDGE_ACTION_PREFIX}{answer.key}"


def nudge_message(template: Template, project: ProjectView, nudge: NudgeView) -> Message:
    text = _nudge_text(template, project, nudge)
    # A stall lists every open item: as many sections as its lines need (3,000 characters each).
    chunks = pack(text.split("\n"), budget=MESSAGE_TEXT_BUDGET // 2, more=lambda n: f"…and {n} more")
    blocks: list[Block] = [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks]
    if nudge.answer is not None:
        assert nudge.answered_at is not None
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f":white_check_mark: *{nudge.answer.label}* · <@{nudge.answered_by}> "
                        f"{slack_date(nudge.answered_at)}",
                    }
                ],
            }
        )
    else:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"nudge:{nudge.nudge_id}",
                "elements": [_button(answer, nudge) for answer in rules.BUTTONS[nudge.kind]],
            }
        )
    return Message(text=text.split("\n", 1)[0], blocks=blocks)


def _button(answer: rules.Answer, nudge: NudgeView) -> Block:
    button: Block = {
        "type": "button",
        "action_id": nudge_action_id(answer),
        "text": {"type": "plain_text", "text": answer.label},
        "value": str(nudge.nudge_id),
    }
    if answer in {rules.Answer.NO_DRIFT}:
        button["style"] = "primary"
    if answer is rules.Answer.DRIFT_FOUND:
        button["style"] = "danger"
    if answer is rules.Answer.START_REDISTILL:
        button["style"] = "primary"
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Start a re-distillation cycle?"},
            "text": {
                "type": "plain_text",
                "text": "Phases 1 and 2 carry over; Phase 3 opens again in a new thread. "
                "This cycle becomes read-only.",
            },
            "confirm": {"type": "plain_text", "text": "Start the new cycle"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return button


def _nudge_text(template: Template, project: ProjectView, nudge: NudgeView) -> str:
    name = escape(project.name)
    if nudge.kind == rules.STALL:
        still_open = open_items(template, project.current_phase, project.done_keys)
        lines = [
            f":hourglass_flowing_sand: *{escape(phase_heading(template, project.current_phase))}* "
            f"of *{name}* has had no tick for a while. Still open:",
            *(f"• {escape(item.title)}" for item in still_open[:20]),
            "Tick what is done in the phase message above, or say in this thread what blocks you.",
        ]
        return "\n".join(lines)
    if nudge.kind == rules.DRIFT:
        return (
            f":mag: *Drift check* for *{name}*: has live traffic moved away from the training set? "
            "Compare recent inputs and the student's quality with your committed bars, then answer below."
        )
    if nudge.kind == rules.REDISTILL:
        return (
            f":recycle: *Re-distillation review* for *{name}*: does the student still clear its bars, "
            "and has the teacher had a meaningful upgrade? Start a new cycle, or look again in 30 days."
        )
    reporter = f"<@{nudge.drift_reported_by}>" if nudge.drift_reported_by else "Someone"
    return (
        f":warning: {reporter} found drift in *{name}*. Re-distilling refreshes the student on today's "
        "traffic: start a new cycle when the team is ready."
    )


def schedule_text(lines: list[tuple[str, str]], calendar: rules.Calendar, paused_reason: str | None) -> str:
    """The `/distill schedule` answer: one line per kind, then the time zone."""
    out = [f"*{label}*: {description}" for label, description in lines]
    out.append(f"Times are in {calendar.tz.key}; nudges go out {calendar.hours}.")
    if paused_reason:
        out.append(f":double_vertical_bar: Nudges are paused: {paused_reason}")
    return "\n".join(out)


def next_due_text(moment: datetime | None, tz: ZoneInfo) -> str:
    return format_local(moment, tz) if moment else "not scheduled"
