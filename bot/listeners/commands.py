"""`/distill` and its subcommands."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.nudges.service import NudgeService
from bot.rendering.messages import HELP_TEXT
from bot.workflow import StartRequest, Workflow

log = logging.getLogger(__name__)

COMMAND = "/distill"
UNEXPECTED = "Something went wrong on my side and nothing was changed. Please try again."


SUBCOMMANDS = {"start", "status", "schedule", "timezone"}


def register(app: App, workflow: Workflow, nudges: NudgeService) -> None:
    @app.command(COMMAND)
    def distill(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        text = str(command.get("text") or "").strip()
        subcommand, _, argument = text.partition(" ")
        subcommand = subcommand.lower()
        if subcommand in {"", "help"}:
            ack(text=HELP_TEXT, response_type="ephemeral")
            return
        if subcommand not in SUBCOMMANDS:
            ack(text=f"I don't know `{COMMAND} {subcommand[:40]}`.\n{HELP_TEXT}", response_type="ephemeral")
            return
        ack()  # everything below may wait on the database or Slack

        team_id, channel_id, user_id = (
            str(command.get(key) or "") for key in ("team_id", "channel_id", "user_id")
        )
        try:
            reply: str | None
            if subcommand == "status":
                reply = workflow.status(team_id, channel_id)
            elif subcommand == "schedule":
                reply = nudges.schedule_command(team_id, channel_id, argument)
            elif subcommand == "timezone":
                reply = nudges.timezone_command(team_id, channel_id, argument)
            else:
                reply = workflow.start(
                    StartRequest(
                        team_id=team_id,
                        channel_id=channel_id,
                        channel_name=str(command.get("channel_name") or ""),
                        user_id=user_id,
                        name=argument,
                    )
                )
        except Exception:
            log.exception("%s %s failed", COMMAND, subcommand)
            reply = UNEXPECTED
        if reply:
            respond(text=reply, response_type="ephemeral")
