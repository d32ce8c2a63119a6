"""Slack listeners: thin translators between Slack payloads and the workflow."""

from __future__ import annotations

from concurrent.futures import Executor

from slack_bolt import App

from bot.clicks import ClickInbox
from bot.governance import Governance
from bot.home import HomeTab
from bot.lifecycle import Lifecycle
from bot.listeners import actions, commands, forms, lifecycle_events, nudge_actions, payload_shape
from bot.nudges.service import NudgeService
from bot.record import ProjectRecord
from bot.workflow import Workflow


def register(
    app: App,
    background: Executor,
    workflow: Workflow,
    clicks: ClickInbox,
    nudges: NudgeService,
    governance: Governance,
    modal_pool: Executor,
    lifecycle: Lifecycle,
    record: ProjectRecord,
    home: HomeTab,
) -> None:
    """`background` runs the slow part of every request, after its ack; `modal_pool` opens modals."""
    app.use(payload_shape.refuse_malformed)
    commands.register(app, background, workflow, nudges, governance, lifecycle, record)
    lifecycle_events.register(app, background, lifecycle, home)
    actions.register(app, background, clicks)
    nudge_actions.register(app, background, nudges)
    forms.register(app, background, governance, modal_pool)
