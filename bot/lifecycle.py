"""A project's life after its start: stop it (a win in Phase 1), reopen a passed phase, record
rollout stages.

Each move changes stored state in one transaction, recorded with who, when and why
(`project_event`); `SlackSync` then makes Slack's messages match, and a short notice goes
into the thread. Who may make each move is checked here, on the server.
"""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from sqlalchemy import Engine
from sqlmodel import Session

from bot import modals, permissions
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.nudges import schedules
from bot.project_state import NO_PROJECT, channel_project
from bot.rendering import messages as render
from bot.rendering.ids import parse_stored_id
from bot.workflow import Workflow
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind, Outcome, Project, ProjectEventKind, ProjectStatus

log = logging.getLogger(__name__)

ROLLOUT_STAGES = ("shadow", "5", "25", "100")
BARS_EVIDENCE = render.BARS_EVIDENCE
EVALUATION_EVIDENCE = render.EVALUATION_EVIDENCE
ROLLOUT_EVIDENCE = "partial-rollout"
REOPEN_USAGE = (
    "Use `/distill reopen <phase number> <why>`, e.g. `/distill reopen 6 the student was retrained`."
)
ROLLOUT_USAGE = "Use `/distill rollout shadow`, `/distill rollout 5`, `... 25` or `... 100`."


class Lifecycle:
    def __init__(
        self, engine: Engine, template: Template, clock: Clock, workflow: Workflow, *, views: WebClient
    ) -> None:
        # Its only Slack call opens the stop form (never sleeps past the trigger's 3 s); the
        # thread is kept in step by workflow.slack_sync.
        self.views = views
        self.engine = engine
        self.template = template
        self.clock = clock
        self.workflow = workflow

    # --- stop -----------------------------------------------------------------------------------

    def open_stop_form(self, *, trigger_id: str, team_id: str, channel_id: str, user_id: str) -> str | None:
        """`/distill stop`: open the form asking for the outcome; returns why not, if refused."""
        with session_scope(self.engine) as session:
            project = channel_project(session, team_id, channel_id)
            if project is None:
                return no_project_reply(session, team_id, channel_id)
            refusal = permissions.refusal(
                session, project, permissions.STOP, user_id=user_id, team_id=team_id, channel_id=channel_id
            )
            if refusal:
                return refusal
            view = modals.stop_modal(project.id or 0, project.current_phase)
        try:
            self.views.views_open(trigger_id=trigger_id, view=view)
        except SlackClientError as error:
            log.warning("could not open the stop form: %s", type(error).__name__)
            return "Slack did not open the form (the command may be too old). Run `/distill stop` again."
        return None

    def submit_stop(
        self, *, team_id: str, user_id: str, view: modals.View
    ) -> tuple[modals.Errors, int | None]:
        """Validate and store a stop (before the ack, so errors show in the form)."""
        project_id = parse_stored_id(modals.metadata(view).get("project_id"))
        if project_id is None:
            return {"_": "This form is out of date."}, None
        now = self.clock()
        with session_scope(self.engine) as session:
            project = queries.get_project(session, project_id, for_update=True)
            if project is None or project.team_id != team_id:
                return {"_": "That project no longer exists."}, None
            if project.closed_at is not None:
                return {"_": "This project is already stopped, or a newer cycle has taken over."}, None
            refusal = permissions.refusal(
                session, project, permissions.STOP, user_id=user_id, team_id=team_id
            )
            if refusal:
                return {"_": refusal}, None
            parsed, errors = modals.parse_stop(view, in_phase_one=project.current_phase == 1)
            if parsed is None:
                return errors, None
            project.status = ProjectStatus.STOPPED
            project.stopped_at, project.stopped_by, project.closed_at = now, user_id, now
            project.outcome = Outcome.WIN if parsed.win else Outcome.STOPPED
            project.outcome_reason = parsed.reason
            project.last_activity_at = now
            _record_move(
                session,
                project,
                ProjectEventKind.STOPPED,
                phase_number=project.current_phase,
                detail=modals.STOP_WIN_LABEL if parsed.win else parsed.reason,
                user_id=user_id,
                now=now,
            )
            self._stale(session, project, [project.current_phase])
            stop = render.StopView(user_id, now, parsed.win, project.outcome_reason)
            queries.add_notice(
                session,
                project,
                text=f"{render.stop_line(stop)}\nNo more ticks or nudges. `/distill start` may begin a new "
                "project here; `/distill history` and `/distill export` keep the record.",
            )
        return {}, project_id

    def after_stop(self, project_id: int) -> None:
        """After the ack: redraw the parent and the open phase, and post the stop's notice."""
        self.workflow.slack_sync.catch_up(project_id)

    # --- reopen ---------------------------------------------------------------------------------

    def reopen(self, team_id: str, channel_id: str, user_id: str, argument: str) -> str:
        """`/distill reopen N why`: reopen passed phase N; later phases lock until it passes again."""
        number_text, _, reason = argument.strip().partition(" ")
        reason = " ".join(reason.split())[: modals.REASON_LENGTH]
        phase_number = parse_stored_id(number_text)
        if phase_number is None or not 1 <= phase_number <= len(self.template.phases):
            return f"{REOPEN_USAGE} Phases are numbered 1 to {len(self.template.phases)}."
        now = self.clock()
        with session_scope(self.engine) as session:
            project = _locked_channel_project(session, team_id, channel_id, user_id, permissions.REOPEN)
            if isinstance(project, str):
                return project
            shipped = project.status == ProjectStatus.SHIPPED
            if phase_number >= project.current_phase and not shipped:
                return (
                    f"Phase {phase_number} has not passed yet: only a passed phase can be reopened "
                    f"(Phase {project.current_phase} is open)."
                )
            if not reason:
                return f"Say why Phase {phase_number} reopens. {REOPEN_USAGE}"
            last_phase = project.current_phase
            needs = self._reopen(session, project, phase_number, user_id=user_id, reason=reason, now=now)
            self._stale(session, project, list(range(phase_number, last_phase + 1)))
            later = (
                f" Phases {phase_number + 1}–{len(self.template.phases)} are locked until it passes again."
                if phase_number < len(self.template.phases)
                else ""
            )
            evidence = f" {needs}" if needs else ""
            queries.add_notice(
                session,
                project,
                text=f":leftwards_arrow_with_hook: <@{user_id}> reopened *Phase {phase_number}: "
                f"{render.escape(self.template.phase(phase_number).title)}*: _{render.clip(reason, 600)}_\n"
                f"Its earlier ticks are in the record (`/distill history`).{later}{evidence}",
            )
            project_id, name = project.id or 0, project.name
        self.workflow.slack_sync.catch_up(project_id)
        return f"Phase {phase_number} of *{render.escape(name)}* is open again.{evidence}"

    def _reopen(
        self,
        session: Session,
        project: Project,
        phase_number: int,
        *,
        user_id: str,
        reason: str,
        now: datetime,
    ) -> str:
        """Move the phase's ticks and waivers to the record and void the evidence it needs.
        Returns what must be recorded again, for the users."""
        project_id = project.id or 0
        for tick in queries.list_ticks(session, project_id):
            if tick.phase_number == phase_number:
                queries.remove_tick(session, project, tick, user_id=user_id, now=now, action="cleared")
        for waiver in queries.list_waivers(session, project_id):
            if waiver.phase_number == phase_number and waiver.ended_at is None:
                waiver.ended_at = now
                session.add(waiver)
        kinds = {item.evidence for item in self.template.phase(phase_number).items if item.evidence}
        needs = []
        if kinds & BARS_EVIDENCE and queries.current_bars(
            session, project_id, after_id=project.bars_void_through
        ):
            project.bars_void_through = queries.max_bars_id(session, project_id)
            project.bars_committed_at = project.bars_committed_by = None
            needs.append("Record the success bars again on its message.")
        if kinds & EVALUATION_EVIDENCE and queries.latest_evaluation(
            session, project_id, after_id=project.evaluations_void_through
        ):
            project.evaluations_void_through = queries.max_evaluation_id(session, project_id)
            needs.append("Record a new evaluation on its message: the earlier ones no longer count.")
        if ROLLOUT_EVIDENCE in kinds:
            events = queries.list_project_events(session, project_id)
            project.rollout_void_through = max((event.id or 0 for event in events), default=0)
            needs.append("Record a partial rollout stage again (`/distill rollout 5` or `25`).")
        project.current_phase = phase_number
        project.status = ProjectStatus.ACTIVE
        project.shipped_at = None
        _record_move(
            session,
            project,
            ProjectEventKind.REOPENED,
            phase_number=phase_number,
            detail=reason,
            user_id=user_id,
            now=now,
        )
        schedules.on_progress(session, project, now, self.workflow.nudge_policy)
        return " ".join(needs)

    # --- rollout --------------------------------------------------------------------------------

    def rollout(self, team_id: str, channel_id: str, user_id: str, argument: str) -> str:
        """`/distill rollout shadow|5|25|100`: record the stage the student's rollout is at."""
        stage = argument.strip().lower().removesuffix("%")
        if stage not in ROLLOUT_STAGES:
            return ROLLOUT_USAGE
        rollout_phase = self._rollout_phase()
        now = self.clock()
        with session_scope(self.engine) as session:
            project = _locked_channel_project(session, team_id, channel_id, user_id, permissions.ROLLOUT)
            if isinstance(project, str):
                return project
            if project.current_phase != rollout_phase:
                return (
                    f"Rollout stages are recorded in Phase {rollout_phase}; "
                    f"the project is in Phase {project.current_phase}."
                )
            if project.rollout_stage == stage:
                return f"The rollout is already at {render.ROLLOUT_LABELS[stage]}."
            project.rollout_stage, project.rollout_since = stage, now
            _record_move(
                session,
                project,
                ProjectEventKind.ROLLOUT,
                phase_number=rollout_phase,
                detail=stage,
                user_id=user_id,
                now=now,
            )
            schedules.on_progress(session, project, now, self.workflow.nudge_policy)
            self._stale(session, project, [rollout_phase])
            line = render.rollout_line(render.RolloutView(stage, now))
            queries.add_notice(session, project, text=f"{line} (recorded by <@{user_id}>)")
            project_id, name = project.id or 0, project.name
        self.workflow.slack_sync.catch_up(project_id)
        return f"Recorded: the rollout of *{render.escape(name)}* is at {render.ROLLOUT_LABELS[stage]}."

    def _rollout_phase(self) -> int:
        for number, phase in enumerate(self.template.phases, start=1):
            if any(item.evidence == ROLLOUT_EVIDENCE for item in phase.items):
                return number
        return len(self.template.phases)

    # --- shared ---------------------------------------------------------------------------------

    def _stale(self, session: Session, project: Project, phases: list[int]) -> None:
        queries.mark_messages_stale(
            session,
            project,
            kinds_and_phases=[(MessageKind.PARENT, 0), *((MessageKind.PHASE, number) for number in phases)],
        )


def _record_move(
    session: Session,
    project: Project,
    kind: str,
    *,
    phase_number: int,
    detail: str | None,
    user_id: str,
    now: datetime,
) -> None:
    """What every lifecycle move does beside its own fields: a new project version for the
    messages to be drawn at, and its line in the record."""
    project.version += 1
    session.add(project)
    queries.add_project_event(
        session, project, kind=kind, phase_number=phase_number, detail=detail, user_id=user_id, now=now
    )


def _locked_channel_project(
    session: Session, team_id: str, channel_id: str, user_id: str, permission: permissions.Permission
) -> Project | str:
    """The channel's project, row-locked for a move, or the reply that says why there is none
    or why this user may not make the move."""
    project = channel_project(session, team_id, channel_id)
    if project is None:
        return no_project_reply(session, team_id, channel_id)
    locked = queries.get_project(session, project.id or 0, for_update=True)
    assert locked is not None
    refusal = permissions.refusal(
        session, locked, permission, user_id=user_id, team_id=team_id, channel_id=channel_id
    )
    return refusal or locked


def no_project_reply(session: Session, team_id: str, channel_id: str) -> str:
    """No open project here: say so, and whether the last one was stopped."""
    latest = queries.latest_channel_project(session, team_id, channel_id)
    if latest is not None and latest.status == ProjectStatus.STOPPED:
        return (
            f"*{render.escape(latest.name)}* was stopped, so this channel has no open project. "
            "`/distill start [name]` begins a new one; `/distill history` shows the record."
        )
    return NO_PROJECT
