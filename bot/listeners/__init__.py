"""Slack listeners: thin translators between Slack payloads and the workflow."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands, nudge_actions
from bot.nudges.service import NudgeService
from bot.workflow import Workflow


def register(app: App, workflow: Workflow, nudges: NudgeService) -> None:
    commands.register(app, workflow, nudges)
    actions.register(app, workflow)
    nudge_actions.register(app, nudges)
