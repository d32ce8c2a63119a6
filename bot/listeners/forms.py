"""The buttons that open modals (waiver, success bars, evaluation) and the modals' submissions."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, Respond

from bot import modals
from bot.background import Busy
from bot.governance import Governance
from bot.listeners.common import origin, run_and_reply
from bot.rendering.ids import parse_stored_id

log = logging.getLogger(__name__)

STALE_BUTTON = "That button is out of date. Use the checklist's latest message in the thread."
OPENERS = {"waive:open": modals.WAIVE, "bars:open": modals.BARS, "evaluation:open": modals.EVALUATION}


def answer_in_form(view: Any, errors: dict[str, str]) -> dict[str, Any]:
    """A view_submission answer that keeps the form open and shows `errors` in it. Slack shows
    an error only under an input block, so one with nothing to point at ("_") goes on the first."""
    if "_" in errors:
        blocks = view.get("blocks") if isinstance(view, dict) else None
        inputs = [
            b["block_id"]
            for b in blocks or []
            if isinstance(b, dict) and b.get("type") == "input" and isinstance(b.get("block_id"), str)
        ]
        errors = {
            **{k: v for k, v in errors.items() if k != "_"},
            inputs[0] if inputs else "_": errors["_"],
        }
    return {"response_action": "errors", "errors": errors}


def register(app: App, background: Executor, governance: Governance, modal_pool: Executor) -> None:
    for action_id, kind in OPENERS.items():
        # A trigger_id dies 3 s after the click: forms open on their own pool, not the background's.
        _register_opener(app, modal_pool, governance, action_id, kind)
    for kind in (modals.WAIVE, modals.BARS, modals.EVALUATION):
        _register_submission(app, background, governance, kind)


def _register_opener(
    app: App, background: Executor, governance: Governance, action_id: str, kind: str
) -> None:
    @app.action(action_id)
    def open_form(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        project_text, _, phase_text = str(action.get("value", "")).partition(":")
        project_id, phase_number = parse_stored_id(project_text), parse_stored_id(phase_text)
        if project_id is None or phase_number is None:
            # From the pool: the listener runs before the response, and Slack waits for it.
            run_and_reply(background, respond, lambda: STALE_BUTTON, "stale button")
            return
        team_id, channel_id, user_id = origin(body)
        run_and_reply(
            background,
            respond,
            lambda: governance.open_modal(
                kind,
                trigger_id=str(body.get("trigger_id") or ""),
                team_id=team_id,
                channel_id=channel_id,
                user_id=user_id,
                project_id=project_id,
                phase_number=phase_number,
            ),
            f"opening the {kind} form",
        )


def _register_submission(app: App, background: Executor, governance: Governance, kind: str) -> None:
    @app.view(kind)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        team_id, _, user_id = origin(body)
        # Validated and stored before the ack, so that errors show in the modal (Slack's
        # `response_action: errors`); everything that talks to Slack comes after it.
        errors, project_id = governance.submit(kind, team_id=team_id, user_id=user_id, view=view)
        if errors:
            ack(**answer_in_form(view, errors))
            return
        ack()
        if project_id is not None:
            try:
                background.submit(governance.after_submission, project_id)
            except Busy:  # stored already; the thread catches up with the next change
                log.warning("background pool full: project %s's thread redraws later", project_id)
