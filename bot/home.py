"""The App Home tab: refreshed from the database each time a user opens it."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy import Engine
from sqlmodel import Session

from bot import membership
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.nudges import schedules
from bot.project_state import done_items
from bot.rendering.home import HOME_PROJECTS_SHOWN, HomeRow, home_view, home_view_without_channels
from storage import queries
from storage.engine import session_scope
from storage.models import Outcome, Project, ProjectStatus

log = logging.getLogger(__name__)


class HomeTab:
    def __init__(
        self,
        engine: Engine,
        template: Template,
        slack: WebClient,
        clock: Clock,
        policy: schedules.NudgePolicy,
    ) -> None:
        self.engine = engine
        self.template = template
        self.slack = slack
        self.clock = clock
        self.policy = policy
        self.channels = membership.ChannelsOfPeople(slack, clock)

    def opened(self, *, event_id: str, team_id: str, user_id: str) -> None:
        """`app_home_opened`: publish the user's Home tab, once per delivery (Slack retries)."""
        if event_id:
            with session_scope(self.engine) as session:
                if not queries.record_event_receipt(session, event_id, now=self.clock()):
                    log.info("event %s already handled; a retry", event_id)
                    return
        self.publish(team_id, user_id)

    def member_moved(self, *, team_id: str, user_id: str) -> None:
        """Someone joined or left a channel the bot is in: their tab lists their channels anew."""
        self.channels.forget(team_id, user_id)

    def publish(self, team_id: str, user_id: str) -> None:
        view = self.build(team_id, user_id)
        try:
            self.slack.views_publish(user_id=user_id, view=view)
        except SlackClientError as error:
            log.warning("could not publish the Home tab: %s", type(error).__name__)

    def build(self, team_id: str, user_id: str) -> dict[str, object]:
        """The projects of the channels `user_id` is in: a private channel's name, progress and
        thread are for its members only."""
        with session_scope(self.engine, read_only=True) as session:
            newest_project = queries.newest_project_id(session)
        # Outside a transaction: this may call Slack.
        channels = self.channels.of(team_id, user_id, newest_project=newest_project)
        if channels is None:
            return home_view_without_channels()
        with session_scope(self.engine) as session:
            projects = queries.list_projects_in_channels(session, team_id, channels)
            rows = [self._row(session, project) for project in projects[:HOME_PROJECTS_SHOWN]]
            return home_view(rows, [status_of(project) for project in projects])

    def _row(self, session: Session, project: Project) -> HomeRow:
        status = status_of(project)
        next_nudge = None
        if status in {"open", "shipped"}:
            due = [
                s.next_due_at
                for s in queries.list_schedules(session, project.id or 0)
                if s.enabled and s.next_due_at is not None
            ]
            next_nudge = min(due) if due else None
        return HomeRow(
            name=project.name,
            channel_id=project.channel_id,
            permalink=project.permalink,
            cycle=project.cycle,
            phase=project.current_phase,
            phase_count=len(self.template.phases),
            phase_title=self.template.phase(project.current_phase).title,
            done=len(done_items(session, project, self.template, self.clock())),
            total=self.template.item_count,
            rollout_stage=project.rollout_stage,
            next_nudge=next_nudge,
            status=status,
            won=project.outcome == Outcome.WIN,
        )


def status_of(project: Project) -> str:
    if project.status == ProjectStatus.STOPPED:
        return "stopped"
    if project.nudges_paused_reason:
        return "paused"
    if project.status == ProjectStatus.SHIPPED:
        return "shipped"
    return "open"
