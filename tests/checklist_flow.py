"""Reading the bot's Slack thread back out of the fake Slack, for the tests."""

from __future__ import annotations

from typing import Any

from bot.checklist.template import Template, load_template
from tests.fake_slack import FakeSlack
from tests.support import RunningBot

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
    return [m for m in replies_of(fake, channel) if m["blocks"] and m["blocks"][0]["type"] == "header"]


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
    """Tick every item of an open phase, one click at a time, on the message as Slack shows it."""
    message = phase_messages(fake, channel)[phase_number - 1]
    for item in TEMPLATE.phase(phase_number).items:
        result = bot.slack.click(channel, message["ts"], item.key, selected=True, user=user)
        assert result.status == 200
        bot.settle()
