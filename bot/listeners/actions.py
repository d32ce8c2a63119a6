"""Checkbox clicks on the phase messages."""

from __future__ import annotations

from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.listeners.common import origin, run_and_reply
from bot.rendering.ids import ITEM_ACTION_PATTERN, parse_item_block_id
from bot.workflow import ItemClick, Workflow

STALE_BUTTON = "That checkbox is out of date. Use the checklist's latest message in the thread."


def register(app: App, background: Executor, workflow: Workflow) -> None:
    @app.action(ITEM_ACTION_PATTERN)
    def item_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        ref = parse_item_block_id(action.get("block_id"))
        selected = action.get("selected_options")
        if ref is None or not isinstance(selected, list):
            # From the pool: the listener runs before the response, and Slack waits for it.
            run_and_reply(background, respond, lambda: STALE_BUTTON, "stale button")
            return
        team_id, channel_id, user_id = origin(body)
        click = ItemClick(
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            ref=ref,
            selected=any(
                isinstance(option, dict) and option.get("value") == ref.item_key for option in selected
            ),
        )
        run_and_reply(
            background, respond, lambda: workflow.toggle(click), f"tick on project {ref.project_id}"
        )
