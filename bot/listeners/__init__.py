"""Slack listeners: thin translators between Slack payloads and the workflow."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, commands
from bot.workflow import Workflow


def register(app: App, workflow: Workflow) -> None:
    commands.register(app, workflow)
    actions.register(app, workflow)
