"""Buttons on nudges: drift answers, snoozes, re-distillation."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.listeners.common import origin, run_and_reply
from bot.nudges.rules import Answer
from bot.nudges.service import NudgeClick, NudgeService
from bot.rendering.ids import parse_stored_id
from bot.rendering.nudges import NUDGE_ACTION_PATTERN, NUDGE_ACTION_PREFIX

STALE_BUTTON = "That button is out of date. Use the latest reminder in the thread."


def register(app: App, background: Executor, nudges: NudgeService) -> None:
    @app.action(NUDGE_ACTION_PATTERN)
    def nudge_answered(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        answer = Answer.from_key(str(action.get("action_id", "")).removeprefix(NUDGE_ACTION_PREFIX))
        nudge_id = parse_stored_id(action.get("value"))
        if answer is None or nudge_id is None:
            # From the pool: the listener runs before the response, and Slack waits for it.
            run_and_reply(background, respond, lambda: STALE_BUTTON, "stale button")
            return
        team_id, channel_id, user_id = origin(body)
        click = NudgeClick(team_id, channel_id, user_id, nudge_id=nudge_id, answer=answer)
        run_and_reply(background, respond, lambda: nudges.answer(click), f"answer to nudge {click.nudge_id}")
