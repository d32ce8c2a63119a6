"""Reading the bot's Slack thread back out of the fake Slack, for the tests."""

from __future__ import annotations

import json
from typing import Any

from bot.checklist.template import Template, load_template
from bot.fake_slack import FakeSlack, payloads
from bot.project_state import project_view
from bot.rendering import messages as render
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind
from tests.support import TEAM, RunningBot

TEMPLATE: Template = load_template()


def parent_of(fake: FakeSlack, channel: str) -> dict[str, Any]:
    parents = [m for m in fake.messages(channel) if not m.get("thread_ts") or m["thread_ts"] == m["ts"]]
    assert len(parents) == 1, f"expected one checklist parent in {channel}, found {len(parents)}"
    return fake.message(channel, parents[0]["ts"])


def replies_of(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    parent = parent_of(fake, channel)
    return [
        fake.message(channel, m["ts"])
        for m in fake.messages(channel)
        if m.get("thread_ts") == parent["ts"] and m["ts"] != parent["ts"]
    ]


def phase_messages(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The thread's phase messages (those that start with a phase header), in order."""
    return [
        m
        for m in replies_of(fake, channel)
        if m["blocks"]
        and m["blocks"][0]["type"] == "header"
        and m["blocks"][0]["text"]["text"].startswith("Phase ")
    ]


def block_text(message: dict[str, Any]) -> str:
    parts: list[str] = [message.get("text", "")]
    for block in message.get("blocks") or []:
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            text = element.get("text", "")
            parts.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(parts)


def item_section(message: dict[str, Any], item_key: str) -> dict[str, Any]:
    return next(
        b for b in message["blocks"] if (b.get("accessory") or {}).get("action_id") == f"item:{item_key}"
    )


def is_ticked(message: dict[str, Any], item_key: str) -> bool:
    return bool(item_section(message, item_key)["accessory"].get("initial_options"))


def tick_phase(
    bot: RunningBot, fake: FakeSlack, channel: str, phase_number: int, user: str = "UALICE"
) -> None:
    """Tick every item of an open phase, one click at a time, on the message as Slack shows it
    (recording the success bars or an evaluation first where the phase's items need them)."""
    record_evidence_for(bot, fake, channel, phase_number)
    message = phase_messages(fake, channel)[phase_number - 1]
    for item in TEMPLATE.phase(phase_number).items:
        result = bot.slack.click(channel, message["ts"], item.key, selected=True, user=user)
        assert result.status == 200
        bot.settle()


def stored_drawing(bot: RunningBot, channel: str = "C0PROJECT") -> dict[str, list[dict[str, Any]]]:
    """What the channel's project's parent and phase messages must show, by ts, rendered from
    the database."""
    with session_scope(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, channel)
        assert project is not None
        view = project_view(session, project, TEMPLATE, bot.clock())
        drawn = {}
        for message in queries.list_messages(session, project.id or 0):
            if message.kind == MessageKind.PARENT:
                drawn[message.ts or ""] = render.parent_message(TEMPLATE, view).blocks
            elif message.kind == MessageKind.PHASE:
                drawn[message.ts or ""] = render.phase_message(TEMPLATE, view, message.phase_number).blocks
    return json.loads(json.dumps(drawn))


# --- modals -------------------------------------------------------------------------------------

PASSING_BARS = {
    "quality_metric": "accuracy",
    "quality_threshold": "0.9",
    "slices": "billing | accuracy | 0.85 | critical\nsmalltalk | accuracy | 0.7",
    "cost_target": "0.40",
    "latency": "250",
    "gap": "0.03",
}
PASSING_EVALUATION = {
    "overall": "0.93 / 0.95",
    "slice-0": "0.9 / 0.92",
    "slice-1": "0.8 / 0.85",
    "latency": "180",
    "cost": "0.2",
}


def press_button(
    bot: RunningBot,
    channel: str,
    message: dict[str, Any],
    action_id: str,
    user: str = "UALICE",
    *,
    wait: bool = True,
) -> Any:
    """Click a button of a message as Slack shows it; returns the HTTP result. With `wait`, once
    the bot has finished what the click handed on (without: while its pools are still busy)."""
    actions = next(
        b
        for b in message["blocks"]
        if b["type"] == "actions" and any(e.get("action_id") == action_id for e in b["elements"])
    )
    button = next(e for e in actions["elements"] if e["action_id"] == action_id)
    payload = payloads.block_actions_payload(
        bot.slack.fake,
        action=payloads.button_action(actions, button),
        channel=channel,
        user=user,
        team=TEAM,
        message=message,
        message_ts=message["ts"],
        thread_ts=message.get("thread_ts"),
    )
    result = bot.slack.interact(payload)
    if wait:
        bot.settle()
    return result


def press_nudge(
    bot: RunningBot, channel: str, message: dict[str, Any], answer: Any, user: str = "UALICE"
) -> None:
    """Answer a nudge with one of its buttons (`answer`: a nudges.rules.Answer)."""
    assert press_button(bot, channel, message, f"nudge:{answer.key}", user).status == 200


def submit_view(bot: RunningBot, view: dict[str, Any], values: dict[str, str], user: str = "UALICE") -> Any:
    """Submit a modal as Slack does: the typed values in view.state, keyed by block id.
    `slice-N` stands for the evaluation form's Nth slice input as the form shows it."""
    values = {slice_input(view, key): value for key, value in values.items()}
    result = bot.slack.interact(payloads.view_submission_payload(bot.slack.fake, view, values, user, TEAM))
    bot.settle()
    return result


def slice_input(view: dict[str, Any], key: str) -> str:
    """The block id of the form's Nth slice input for `slice-N`; other keys as they are."""
    if not key.startswith("slice-"):
        return key
    inputs = [
        b["block_id"] for b in view["blocks"] if b["type"] == "input" and b["block_id"].startswith("slice:")
    ]
    return inputs[int(key.removeprefix("slice-"))] if inputs else key  # forms keyed by position


def fill_form(
    bot: RunningBot,
    fake: FakeSlack,
    channel: str,
    message: dict[str, Any],
    action_id: str,
    values: dict[str, str],
    user: str = "UALICE",
) -> Any:
    """Open a form with its button and submit it; returns the submission's HTTP result."""
    opened = len(fake.views)
    press_button(bot, channel, message, action_id, user)
    assert len(fake.views) == opened + 1, "the form did not open"
    return submit_view(bot, fake.views[-1], values, user)


def record_evidence_for(bot: RunningBot, fake: FakeSlack, channel: str, phase_number: int) -> None:
    message = fake.message(channel, phase_messages(fake, channel)[phase_number - 1]["ts"])
    kinds = {item.evidence for item in TEMPLATE.phase(phase_number).items}
    if "quality-bar" in kinds:
        assert fill_form(bot, fake, channel, message, "bars:open", PASSING_BARS).status == 200
    if "evaluation" in kinds:
        assert fill_form(bot, fake, channel, message, "evaluation:open", PASSING_EVALUATION).status == 200
    if "partial-rollout" in kinds:
        assert bot.slack.command("rollout 5", channel=channel).status == 200
        bot.settle()
