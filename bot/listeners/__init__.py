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
    app.use(payload_shape.RefuseMalformed())
    # Bolt tries listeners in the order they were registered, building every argument a
    # listener could ask for at each try: checkbox clicks, the requests that come most, first.
    actions.register(app, background, clicks)
    commands.register(app, background, modal_pool, workflow, nudges, governance, lifecycle, record)
    lifecycle_events.register(app, background, lifecycle, home)
    nudge_actions.register(app, background, nudges)
    forms.register(app, background, governance, modal_pool)
