"""Owners, waivers, committed success bars and evaluations: what makes a gate mean something.

Every restricted action is checked here, on the server, whatever the client showed.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlmodel import Session

from bot import modals, permissions
from bot.checklist import gate
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.permissions import NOT_HERE
from bot.project_state import NO_PROJECT, channel_project, done_items, in_force, load_evidence
from bot.rendering import messages as render
from bot.rendering.ids import parse_stored_id
from bot.workflow import Workflow
from storage import queries
from storage.engine import session_scope
from storage.models import Evaluation, MessageKind, Project, ProjectStatus, SliceBar, SliceScore, SuccessBars

log = logging.getLogger(__name__)

OWNER_NOT_LOOKED_UP = "Slack did not tell me who that is, so nobody was added. Try again in a minute."
_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,30})$")


class Governance:
    def __init__(
        self,
        engine: Engine,
        template: Template,
        clock: Clock,
        workflow: Workflow,
        *,
        slack: WebClient,
        views: WebClient,
    ) -> None:
        self.engine = engine
        self.template = template
        # `slack` looks up people made owners; `views` opens modals (see app.make_views_client).
        # The thread is kept in step by workflow.slack_sync.
        self.slack = slack
        self.views = views
        self.clock = clock
        self.workflow = workflow

    # --- owners -------------------------------------------------------------------------------

    def owners_command(self, team_id: str, channel_id: str, user_id: str, argument: str) -> str:
        verb, _, rest = argument.strip().partition(" ")
        match = _MENTION.match(rest.strip())
        # Slack is asked before the transaction; its answer counts only once the permission has.
        cannot_own = (
            self._cannot_own(match.group(1) or match.group(2)) if verb.lower() == "add" and match else None
        )
        with session_scope(self.engine) as session:
            project = channel_project(session, team_id, channel_id)
            if project is None:
                return NO_PROJECT
            if verb:  # changes queue on the project's row: two owners removing each other leave one
                project = queries.get_project(session, project.id or 0, for_update=True) or project
            owners = queries.list_owners(session, project.id or 0)
            wanted = permissions.CHANGE_OWNERS if verb else permissions.LIST_OWNERS
            if refused := permissions.refusal(
                session, project, wanted, user_id=user_id, team_id=team_id, channel_id=channel_id
            ):
                return refused
            if not verb:
                listed = ", ".join(f"<@{owner}>" for owner in owners)
                return (
                    f"Owners of *{render.escape(project.name)}*: {listed}. Owners may waive items and amend "
                    "committed bars; anyone in the channel may tick."
                )
            if verb.lower() not in {"add", "remove"} or match is None:
                return "Use `/distill owners`, `/distill owners add @someone` or `... remove @someone`."
            target = match.group(1) or match.group(2)
            if verb.lower() == "add":
                if target in owners:
                    return f"<@{target}> is already an owner."
                if cannot_own:
                    return cannot_own
                queries.add_owner(session, project, user_id=target, added_by=user_id, now=self.clock())
                return f"<@{target}> is now an owner of *{render.escape(project.name)}*."
            if target not in owners:
                return f"<@{target}> is not an owner."
            if len(owners) == 1:
                return "A project always keeps one owner: add another owner first."
            queries.remove_owner(session, project, target)
            return f"<@{target}> is no longer an owner of *{render.escape(project.name)}*."

    def _cannot_own(self, user_id: str) -> str | None:
        """Why this id cannot be made an owner, for the user; None when it is a person's. Owners
        are typed as ids too (`/distill owners add U0123ABCD`): Slack is asked who it is."""
        try:
            person = self.slack.users_info(user=user_id)["user"]
        except SlackApiError as error:
            if error.response.get("error") == "user_not_found":
                return f"Nobody here has the id `{user_id}`. Mention them: `/distill owners add @someone`."
            return OWNER_NOT_LOOKED_UP
        except (SlackClientError, KeyError, TypeError):
            return OWNER_NOT_LOOKED_UP
        if person.get("deleted"):
            return f"<@{user_id}>'s account is deactivated, so they cannot be an owner."
        if person.get("is_bot"):
            return f"<@{user_id}> is an app: owners are people."
        return None

    # --- opening the modals -------------------------------------------------------------------

    def open_modal(
        self,
        kind: str,
        *,
        trigger_id: str,
        team_id: str,
        channel_id: str,
        user_id: str,
        project_id: int,
        phase_number: int,
    ) -> str | None:
        """Open the waiver, bars or evaluation modal; returns why not, for the user, if refused."""
        with session_scope(self.engine) as session:
            project = queries.get_project(session, project_id)
            if project is None or project.closed_at:
                return NOT_HERE
            if refused := permissions.refusal(
                session,
                project,
                self._permission(kind, project),
                user_id=user_id,
                team_id=team_id,
                channel_id=channel_id,
            ):
                return refused
            standing = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
            proof = load_evidence(session, project)
            if kind == modals.WAIVE:
                done = done_items(session, project, self.template, self.clock())
                open_items = (
                    gate.open_items(self.template, phase_number, done)
                    if phase_number == standing.current_phase
                    else []
                )
                refusal = gate.decide_waive(
                    self.template,
                    standing,
                    phase_number=phase_number,
                    item_key=open_items[0].key if open_items else "",
                    done=set(),
                )
                if refusal:
                    return refusal.reason
                view = modals.waive_modal(
                    project_id, phase_number, self.template.phase(phase_number).title, open_items
                )
            elif kind == modals.BARS:
                if project.current_phase < (render.bars_phase(self.template) or 1):
                    return "Success bars are recorded once their phase is open."
                view = modals.bars_modal(
                    project_id, proof.bars, amending=project.bars_committed_at is not None
                )
            else:
                if proof.bars is None or project.bars_committed_at is None:
                    return "Evaluations are compared with the committed bars: commit them in Phase 2 first."
                if project.current_phase < (render.evaluation_phase(self.template) or 1):
                    return "Evaluations are recorded once their phase is open."
                view = modals.evaluation_modal(project_id, proof.bars)
        try:
            self.views.views_open(trigger_id=trigger_id, view=view)
        except SlackClientError as error:
            log.warning("could not open the %s modal: %s", kind, type(error).__name__)
            return "Slack did not open the form (the click may be too old). Click the button again."
        return None

    @staticmethod
    def _permission(kind: str, project: Project) -> permissions.Permission:
        """The permission a form needs: committed bars are amended, not recorded."""
        if kind == modals.WAIVE:
            return permissions.WAIVE
        if kind == modals.BARS:
            return permissions.AMEND_BARS if project.bars_committed_at else permissions.RECORD_BARS
        return permissions.RECORD_EVALUATION

    # --- submissions (answered in the ack, so no Slack calls here) ---------------------------

    def submit(
        self, kind: str, *, team_id: str, user_id: str, view: modals.View
    ) -> tuple[modals.Errors, int | None]:
        """Validate and store a submission. Returns field errors, or the project to redraw."""
        project_id = parse_stored_id(modals.metadata(view).get("project_id"))
        if project_id is None:
            return {"_": "This form is out of date."}, None
        now = self.clock()
        with session_scope(self.engine) as session:
            project = queries.get_project(session, project_id, for_update=True)
            if project is None or project.closed_at:
                return {"_": NOT_HERE}, None
            if refused := permissions.refusal(
                session, project, self._permission(kind, project), user_id=user_id, team_id=team_id
            ):
                return {"_": refused}, None
            if kind == modals.WAIVE:
                errors = self._waive(session, project, view, user_id=user_id, now=now)
            elif kind == modals.BARS:
                errors = self._record_bars(session, project, view, user_id=user_id, now=now)
            else:
                errors = self._record_evaluation(session, project, view, user_id=user_id, now=now)
            if errors:
                session.rollback()
                return errors, None
        return {}, project_id

    def _waive(
        self,
        session: Session,
        project: Project,
        view: modals.View,
        *,
        user_id: str,
        now: datetime,
    ) -> modals.Errors:
        phase_number = modals.metadata(view).get("phase")
        if not isinstance(phase_number, int) or phase_number != project.current_phase:
            return {"item": "This form is out of date: only items of the open phase can be waived."}
        done = done_items(session, project, self.template, now)
        open_keys = {item.key for item in gate.open_items(self.template, phase_number, done)}
        calendar = self.workflow.nudge_policy.calendar(project)
        parsed, errors = modals.parse_waiver(view, open_keys, now.astimezone(calendar.tz).date())
        if parsed is None:
            return errors
        standing = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
        refusal = gate.decide_waive(
            self.template,
            standing,
            phase_number=phase_number,
            item_key=parsed.item_key,
            done=done,
        )
        if refusal:
            return {"item": refusal.reason}
        queries.add_waiver(
            session,
            project,
            item_key=parsed.item_key,
            phase_number=phase_number,
            reason=parsed.reason,
            waived_by=user_id,
            waived_at=now,
            expires_at=modals.end_of_day(parsed.expires_on, calendar.tz) if parsed.expires_on else None,
        )
        self._changed(session, project, phase_number)
        self.workflow.advance_gate(session, project, user_id=user_id, now=now)
        return {}

    def _record_bars(
        self,
        session: Session,
        project: Project,
        view: modals.View,
        *,
        user_id: str,
        now: datetime,
    ) -> modals.Errors:
        amending = project.bars_committed_at is not None
        current = queries.current_bars(session, project.id or 0)
        bars_id = (current[0].id or 0) if current else 0
        parsed, errors = modals.parse_bars(view, amending=amending, bars_id=bars_id)
        if parsed is None:
            return errors
        bars = SuccessBars(
            project_id=project.id or 0,
            quality_metric=parsed.quality_metric,
            quality_threshold=parsed.quality_threshold,
            cost_target=parsed.cost_target,
            latency_p95_ms=parsed.latency_p95_ms,
            acceptable_gap=parsed.acceptable_gap,
            recorded_by=user_id,
            recorded_at=now,
            amendment_reason=parsed.amendment_reason,
        )
        slices = [
            SliceBar(bars_id=0, name=s.name, metric=s.metric, threshold=s.threshold, critical=s.critical)
            for s in parsed.slices
        ]
        queries.add_bars(session, project, bars, slices)
        self._changed(session, project, render.bars_phase(self.template) or 0)
        if amending:
            queries.mark_messages_stale(
                session, project, kinds_and_phases=[(MessageKind.BARS, render.bars_phase(self.template) or 0)]
            )
        self.workflow.advance_gate(session, project, user_id=user_id, now=now)
        return {}

    def _record_evaluation(
        self, session: Session, project: Project, view: modals.View, *, user_id: str, now: datetime
    ) -> modals.Errors:
        proof = load_evidence(session, project)
        if proof.bars is None or project.bars_committed_at is None:
            return {"overall": "Commit the success bars in Phase 2 first."}
        parsed, errors = modals.parse_evaluation(view, proof.bars)
        if parsed is None:
            return errors
        bars_row = queries.current_bars(session, project.id or 0)
        assert bars_row is not None
        evaluation = Evaluation(
            project_id=project.id or 0,
            bars_id=bars_row[0].id or 0,
            student_score=parsed.student_score,
            teacher_score=parsed.teacher_score,
            latency_p95_ms=parsed.latency_p95_ms,
            cost=parsed.cost,
            recorded_by=user_id,
            recorded_at=now,
        )
        scores = [
            SliceScore(evaluation_id=0, name=name, student_score=pair[0], teacher_score=pair[1])
            for name, pair in parsed.slice_scores.items()
        ]
        queries.add_evaluation(session, evaluation, scores)
        # Its table in the thread is claimed here, in the same transaction, like every message.
        queries.add_message(
            session,
            project,
            kind=MessageKind.EVALUATION,
            phase_number=project.current_phase,
            subject_id=evaluation.id or 0,
        )
        self._changed(session, project, render.evaluation_phase(self.template) or 0)
        self.workflow.advance_gate(
            session, project, user_id=user_id, now=now
        )  # it may hold up or free the gate
        return {}

    def _changed(self, session: Session, project: Project, phase_number: int) -> None:
        project.version += 1
        session.add(project)
        queries.mark_messages_stale(
            session, project, kinds_and_phases=[(MessageKind.PARENT, 0), (MessageKind.PHASE, phase_number)]
        )

    def after_submission(self, project_id: int) -> bool:
        """After the ack: post (the evaluation's table) and redraw what the submission changed.
        Returns False when Slack fell behind (the repair pass catches up)."""
        return self.workflow.slack_sync.catch_up(project_id)

    # --- expiry -------------------------------------------------------------------------------

    def expire_waivers(self) -> int:
        """End the waivers whose time is up; their items open again, and the thread is told."""
        now = self.clock()
        ended = 0
        with session_scope(self.engine) as session:
            project_ids = queries.expired_waiver_projects(session, now=now)
        for project_id in project_ids:
            with session_scope(self.engine) as session:
                project = queries.get_project(session, project_id, for_update=True)
                if project is None:
                    continue
                for waiver in queries.list_waivers(session, project_id):
                    if waiver.ended_at is None and not in_force(waiver, now):
                        waiver.ended_at = now
                        session.add(waiver)
                        self._changed(session, project, waiver.phase_number)
                        item = self.template.item(waiver.item_key)
                        passed = (
                            waiver.phase_number < project.current_phase
                            or project.status == ProjectStatus.SHIPPED
                        )
                        title = item.title if item else waiver.item_key
                        queries.add_notice(
                            session, project, text=_waiver_ended(title, waiver.phase_number, passed)
                        )
                        ended += 1
            self.workflow.slack_sync.catch_up(project_id)
        return ended


def _waiver_ended(item_title: str, phase_number: int, passed: bool) -> str:
    """The thread's notice that a waiver ran out; on a passed phase, where to tick the item."""
    where = f": tick it in Phase {phase_number}'s message when it is done." if passed else "."
    return (
        f":alarm_clock: The waiver on *{render.escape(item_title)}* (Phase {phase_number}) ended, "
        f"so the item is open again{where}"
    )
