"""`/distill` and its subcommands."""

from __future__ import annotations

import html
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.core.text import as_typed
from bot.governance import Governance
from bot.lifecycle import Lifecycle
from bot.listeners.common import ack_and_run
from bot.nudges.service import NudgeService
from bot.record import ProjectRecord
from bot.rendering.messages import HELP_TEXT
from bot.rendering.mrkdwn import escape
from bot.workflow import StartRequest, Workflow

COMMAND = "/distill"


SUBCOMMANDS = {
    "start",
    "status",
    "schedule",
    "timezone",
    "owners",
    "stop",
    "reopen",
    "rollout",
    "history",
    "export",
}


def register(
    app: App,
    background: Executor,
    modal_pool: Executor,
    workflow: Workflow,
    nudges: NudgeService,
    governance: Governance,
    lifecycle: Lifecycle,
    record: ProjectRecord,
) -> None:
    @app.command(COMMAND)
    def distill(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        # Slack sends & < > escaped (should_escape): read the text as typed, once, here; every
        # reply that quotes it escapes it again (rendering.mrkdwn.escape).
        text = html.unescape(as_typed(command.get("text"))).strip()
        subcommand, _, argument = text.partition(" ")
        subcommand = subcommand.lower()
        if subcommand in {"", "help"}:
            ack(text=HELP_TEXT, response_type="ephemeral")
            return
        if subcommand not in SUBCOMMANDS:
            # Echoed into mrkdwn: escaped, so a typed `<!channel>` stays text and pings no one.
            unknown = escape(subcommand[:40])
            ack(text=f"I don't know `{COMMAND} {unknown}`.\n{HELP_TEXT}", response_type="ephemeral")
            return
        team_id, channel_id, user_id = (
            str(command.get(key) or "") for key in ("team_id", "channel_id", "user_id")
        )

        def work() -> str | None:
            if subcommand == "status":
                return workflow.status(team_id, channel_id, user_id)
            if subcommand == "schedule":
                return nudges.schedule_command(team_id, channel_id, user_id, argument)
            if subcommand == "timezone":
                return nudges.timezone_command(team_id, channel_id, user_id, argument)
            if subcommand == "owners":
                return governance.owners_command(team_id, channel_id, user_id, argument)
            if subcommand == "stop":
                trigger_id = str(command.get("trigger_id") or "")
                return lifecycle.open_stop_form(
                    trigger_id=trigger_id, team_id=team_id, channel_id=channel_id, user_id=user_id
                )
            if subcommand in {"reopen", "rollout"}:
                move = lifecycle.reopen if subcommand == "reopen" else lifecycle.rollout
                return move(team_id, channel_id, user_id, argument)
            if subcommand == "history":
                return record.history(team_id, channel_id, user_id)
            if subcommand == "export":
                return record.export(team_id, channel_id, user_id)
            start = StartRequest(
                team_id=team_id,
                channel_id=channel_id,
                channel_name=str(command.get("channel_name") or ""),
                user_id=user_id,
                name=argument,
            )
            return workflow.start(start)

        # The work may wait on the database or Slack: it runs after the ack, which says "busy" if
        # the pool is full. `stop` opens a form, whose trigger_id Slack honours for 3 seconds:
        # on the modal pool, like the forms' buttons, never behind the background's slow work.
        pool = modal_pool if subcommand == "stop" else background
        ack_and_run(ack, pool, respond, work, f"{COMMAND} {subcommand}")
