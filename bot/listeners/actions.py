"""Checkbox clicks on the phase messages."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.listeners.commands import UNEXPECTED
from bot.rendering.ids import ITEM_ACTION_PATTERN, parse_item_block_id
from bot.workflow import ItemClick, Workflow

log = logging.getLogger(__name__)

STALE_BUTTON = "That checkbox is out of date. Use the checklist's latest message in the thread."


def register(app: App, workflow: Workflow) -> None:
    @app.action(ITEM_ACTION_PATTERN)
    def item_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        ref = parse_item_block_id(action.get("block_id"))
        selected = action.get("selected_options")
        if ref is None or not isinstance(selected, list):
            respond(text=STALE_BUTTON, response_type="ephemeral", replace_original=False)
            return
        click = ItemClick(
            team_id=str((body.get("team") or {}).get("id") or ""),
            channel_id=str((body.get("channel") or {}).get("id") or ""),
            user_id=str((body.get("user") or {}).get("id") or ""),
            ref=ref,
            selected=any(
                isinstance(option, dict) and option.get("value") == ref.item_key for option in selected
            ),
        )
        try:
            reply = workflow.toggle(click)
        except Exception:
            log.exception("tick on project %s failed", ref.project_id)
            reply = UNEXPECTED
        if reply:
            respond(text=reply, response_type="ephemeral", replace_original=False)
