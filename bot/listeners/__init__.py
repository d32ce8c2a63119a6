"""Slack listeners: thin translators between Slack payloads and the workflow."""

from __future__ import annotations

from slack_bolt import App

from bot.governance import Governance
from bot.listeners import actions, commands, forms, nudge_actions
from bot.nudges.service import NudgeService
from bot.workflow import Workflow


def register(app: App, workflow: Workflow, nudges: NudgeService, governance: Governance) -> None:
    commands.register(app, workflow, nudges, governance)
    actions.register(app, workflow)
    nudge_actions.register(app, nudges)
    forms.register(app, governance)
