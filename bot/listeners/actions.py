"""Checkbox clicks on the phase messages."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.clicks import ClickInbox
from bot.listeners.common import UNEXPECTED, origin, run_and_reply
from bot.rendering.ids import ITEM_ACTION_PATTERN, parse_item_block_id
from bot.workflow import ItemClick

log = logging.getLogger(__name__)

STALE_BUTTON = "That checkbox is out of date. Use the checklist's latest message in the thread."


def register(app: App, background: Executor, clicks: ClickInbox) -> None:
    @app.action(ITEM_ACTION_PATTERN)
    def item_clicked(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ref = parse_item_block_id(action.get("block_id"))
        selected = action.get("selected_options")
        if ref is None or not isinstance(selected, list):
            ack()
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
        # Stored before the ack (one insert, no Slack call): a click Slack saw acknowledged
        # survives the process being killed a moment later. The gate and Slack come after.
        try:
            stored = clicks.store(click)
        except Exception:
            log.exception("storing a click on project %s failed", ref.project_id)
            ack()
            run_and_reply(background, respond, lambda: UNEXPECTED, "apology")
            return
        ack()
        run_and_reply(
            background,
            respond,
            lambda: clicks.apply(stored),
            f"click on project {ref.project_id}",
            busy=stored.busy_reply,  # if stored, the beat applies it and brings the thread up
        )
