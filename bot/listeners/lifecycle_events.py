"""The stop form's submission, the App Home tab's opening, and people joining or leaving the
channels the bot is in (which the Home tab lists)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Ack, App

from bot import modals
from bot.background import Busy
from bot.home import HomeTab
from bot.lifecycle import Lifecycle
from bot.listeners.common import origin
from bot.listeners.forms import answer_in_form

log = logging.getLogger(__name__)


def register(app: App, background: Executor, lifecycle: Lifecycle, home: HomeTab) -> None:
    @app.view(modals.STOP)
    def stop_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        team_id, _, user_id = origin(body)
        # Validated and stored before the ack, so that errors show in the form.
        errors, project_id = lifecycle.submit_stop(team_id=team_id, user_id=user_id, view=view)
        if errors:
            ack(**answer_in_form(view, errors))
            return
        ack()
        if project_id is not None:
            try:
                background.submit(lifecycle.after_stop, project_id)
            except Busy:  # stored already, its notice too: the repair pass posts them
                log.warning("background pool full: project %s's stop is shown later", project_id)

    @app.event("app_home_opened")
    def home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        # Bolt acknowledges events itself, at once; the view is built on the background pool.
        if event.get("tab") != "home" or not isinstance(event.get("user"), str):
            return
        try:
            background.submit(
                home.opened,
                event_id=str(body.get("event_id") or ""),
                team_id=str(body.get("team_id") or ""),
                user_id=event["user"],
            )
        except Busy:  # the tab shows what it showed; the next opening redraws it
            log.warning("background pool full: an App Home view was not redrawn")

    @app.event("member_joined_channel")
    @app.event("member_left_channel")
    def member_moved(body: dict[str, Any], event: dict[str, Any]) -> None:
        # Only forgets a cached list: cheap enough to do before Bolt's automatic ack.
        if isinstance(event.get("user"), str):
            home.member_moved(team_id=str(body.get("team_id") or ""), user_id=event["user"])
