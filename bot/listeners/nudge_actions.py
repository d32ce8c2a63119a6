"""Buttons on nudges: drift answers, snoozes, re-distillation."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.listeners.commands import UNEXPECTED
from bot.nudges.rules import Answer
from bot.nudges.service import NudgeClick, NudgeService
from bot.rendering.nudges import NUDGE_ACTION_PATTERN, NUDGE_ACTION_PREFIX

log = logging.getLogger(__name__)

STALE_BUTTON = "That button is out of date. Use the latest reminder in the thread."


def register(app: App, nudges: NudgeService) -> None:
    @app.action(NUDGE_ACTION_PATTERN)
    def nudge_answered(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        answer = Answer.from_key(str(action.get("action_id", "")).removeprefix(NUDGE_ACTION_PREFIX))
        value = str(action.get("value", ""))
        if answer is None or not value.isdigit():
            respond(text=STALE_BUTTON, response_type="ephemeral", replace_original=False)
            return
        click = NudgeClick(
            team_id=str((body.get("team") or {}).get("id") or ""),
            channel_id=str((body.get("channel") or {}).get("id") or ""),
            user_id=str((body.get("user") or {}).get("id") or ""),
            nudge_id=int(value),
            answer=answer,
        )
        try:
            reply = nudges.answer(click)
        except Exception:
            log.exception("answer to nudge %s failed", click.nudge_id)
            reply = UNEXPECTED
        if reply:
            respond(text=reply, response_type="ephemeral", replace_original=False)
