"""The checklist's domain moves: start a project, tick and untick, open the next phase, start a cycle.

Listeners hand requests in as plain values and get back the text to show the user. Each move
changes stored state in one transaction; `SlackSync` then makes Slack's messages match it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import membership, permissions
from bot.checklist import evidence, gate
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.core.later import Later, run_soon
from bot.nudges import schedules
from bot.nudges.timing import zone
from bot.project_state import (
    NO_PROJECT,
    GateFacts,
    channel_project,
    done_items,
    gate_facts,
    must_get,
    project_view,
)
from bot.rendering import messages as render
from bot.rendering.ids import ItemRef
from bot.slack_sync import SLACK_FAILURES, SlackSync, refusal_notes
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind, Project, ProjectEventKind, ProjectStatus, Tick

log = logging.getLogger(__name__)

NOT_SHIPPED = "Only a shipped project can start a re-distillation cycle."

MAX_NAME_LENGTH = 80
_DIRECT_MESSAGE = (
    "Distill Bot runs a project's checklist in the project's channel, not in direct messages. "
    "Run `/distill start` in the channel your team works in."
)


@dataclass(frozen=True)
class StartRequest:
    team_id: str
    channel_id: str
    channel_name: str
    user_id: str
    name: str


@dataclass(frozen=True)
class ItemClick:
    team_id: str
    channel_id: str
    user_id: str
    ref: ItemRef
    selected: bool


class Workflow:
    def __init__(
        self,
        engine: Engine,
        template: Template,
        slack: WebClient,
        clock: Clock,
        *,
        nudge_policy: schedules.NudgePolicy | None = None,
        later: Later = run_soon,
    ) -> None:
        self.engine = engine
        self.template = template
        self.slack = slack
        self.clock = clock
        self.nudge_policy = nudge_policy or schedules.NudgePolicy()
        self.slack_sync = SlackSync(engine, template, slack, clock, self.nudge_policy, later)

    # --- commands ---------------------------------------------------------------------------

    def start(self, request: StartRequest) -> str | None:
        """Open the channel's project and post its thread; returns a reply for the user, if any."""
        if request.channel_id.startswith("D"):
            return _DIRECT_MESSAGE
        name = " ".join(request.name.split())
        if len(name) > MAX_NAME_LENGTH:
            return f"Project names can be at most {MAX_NAME_LENGTH} characters; that one has {len(name)}."

        # Every recovery path reads the thread back, which needs membership: join first.
        cannot_join = membership.join(self.slack, request.channel_id)
        if cannot_join:
            return cannot_join
        cannot_recover = self.slack_sync.recover_abandoned_start(request.team_id, request.channel_id)
        if cannot_recover:
            return cannot_recover
        existing = self._existing_project_reply(request.team_id, request.channel_id)
        if existing:
            return existing
        if not name:
            name = self._channel_name(request)

        timezone = self._user_timezone(request.user_id)
        try:
            with session_scope(self.engine) as session:
                project = queries.create_project(
                    session,
                    team_id=request.team_id,
                    channel_id=request.channel_id,
                    name=name,
                    checklist=self.template.name,
                    started_by=request.user_id,
                    now=self.clock(),
                )
                project.timezone = timezone
                queries.add_owner(
                    session, project, user_id=request.user_id, added_by=request.user_id, now=self.clock()
                )
                project_id = project.id or 0
        except IntegrityError:  # someone started it a moment ago
            return self._existing_project_reply(request.team_id, request.channel_id) or NO_PROJECT
        return self.slack_sync.open_thread(
            project_id, on_failure=lambda session: queries.delete_project(session, project_id)
        )

    def start_cycle(self, from_project_id: int, user_id: str) -> str | None:
        """Re-distill: a new cycle in a new thread, the phases that carry over ticked as they were."""
        now = self.clock()
        with session_scope(self.engine) as session:
            old = queries.get_project(session, from_project_id, for_update=True)
            if old is None or old.closed_at is not None:
                return "A newer cycle of this project has already started."
            if old.status != ProjectStatus.SHIPPED:
                return NOT_SHIPPED
            old.closed_at = now
            old.version += 1
            session.add(old)
            session.flush()  # frees the channel for the new cycle
            queries.mark_messages_stale(session, old, kinds_and_phases=[(MessageKind.PARENT, 0)])
            new = queries.create_project(
                session,
                team_id=old.team_id,
                channel_id=old.channel_id,
                name=old.name,
                checklist=old.checklist,
                started_by=user_id,
                now=now,
            )
            new.cycle, new.previous_project_id, new.timezone = old.cycle + 1, old.id, old.timezone
            new.current_phase = gate.CYCLE_CARRIES_PHASES + 1
            queries.copy_ticks(session, old, new, up_to_phase=gate.CYCLE_CARRIES_PHASES)
            # The committed bars carry over too (still amendable by owners, with a reason), so
            # the carried success-bar ticks count and the cycle's evaluation has bars to meet.
            queries.copy_bars(session, old, new)
            new.bars_committed_at, new.bars_committed_by = old.bars_committed_at, old.bars_committed_by
            queries.copy_schedule_settings(session, old, new)
            # The owners carry over as they are: starting a cycle (owners only) grants nothing.
            for owner in queries.list_owners(session, old.id or 0):
                queries.add_owner(session, new, user_id=owner, added_by=user_id, now=now)
            new_id = new.id or 0

        def reopen_old(session: Session) -> None:
            queries.delete_project(session, new_id)
            reopened = must_get(session, from_project_id)
            reopened.closed_at = None
            session.add(reopened)

        reply = self.slack_sync.open_thread(new_id, on_failure=reopen_old)
        self.slack_sync.catch_up(from_project_id)  # the old thread says it is closed
        return reply

    def status(self, team_id: str, channel_id: str, user_id: str) -> str:
        with session_scope(self.engine) as session:
            project = channel_project(session, team_id, channel_id)
            if project is None:
                return NO_PROJECT
            if refused := permissions.refusal(
                session, project, permissions.STATUS, user_id=user_id, team_id=team_id, channel_id=channel_id
            ):
                return refused
            status = render.status_text(self.template, self.project_view(session, project))
            standing = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
            facts = gate_facts(session, project, self.clock())
            open_again = gate.reopened_items(self.template, standing, facts.ticked, facts.done(self.template))
            reopened = [
                f"• {render.escape(item.title)} (Phase {number}): its waiver ended, so it is open again"
                for number, phase in enumerate(self.template.phases, start=1)
                for item in phase.items
                if item.key in open_again
            ]
            refusals = refusal_notes(queries.list_messages(session, project.id or 0))
            nudges = schedules.next_nudge_line(session, project, self.nudge_policy)
            return "\n".join([status, *reopened, *refusals, nudges])

    def _user_timezone(self, user_id: str) -> str | None:
        """The starter's time zone from their Slack profile, if Slack tells us and we know it."""
        try:
            name = str(self.slack.users_info(user=user_id)["user"]["tz"])
            return zone(name).key
        except (*SLACK_FAILURES, KeyError, TypeError, ValueError):
            return None

    def _existing_project_reply(self, team_id: str, channel_id: str) -> str | None:
        with session_scope(self.engine) as session:
            project = queries.get_open_project(session, team_id, channel_id)
            if project is None:
                return None
            if project.status == ProjectStatus.STARTING:
                return "This channel's project is being set up right now; its thread appears in a moment."
            link = (
                f"<{project.permalink}|its checklist thread>" if project.permalink else "its checklist thread"
            )
            return (
                f"This channel already has a distillation project, *{render.escape(project.name)}*: "
                f"see {link}. `/distill status` shows where it stands."
            )

    def _channel_name(self, request: StartRequest) -> str:
        try:
            name = self.slack.conversations_info(channel=request.channel_id)["channel"]["name"]
        except (*SLACK_FAILURES, KeyError, TypeError):
            name = request.channel_name
        name = str(name or "").strip()
        if not name or name in {"privategroup", "directmessage"}:
            return "Distillation project"
        return name[:MAX_NAME_LENGTH]

    # --- interactions -----------------------------------------------------------------------

    def decide_click(self, session: Session, project: Project | None, click: ItemClick) -> str | None:
        """Apply one click as the gate decides, in the caller's transaction, which holds the
        project's lock; returns what to tell the clicker, if anything."""
        if project is None:
            return "That checklist belongs to a project in another channel, or no longer exists."
        if refused := permissions.refusal(
            session,
            project,
            permissions.TICK,
            user_id=click.user_id,
            team_id=click.team_id,
            channel_id=click.channel_id,
        ):
            return refused
        if project.status == ProjectStatus.STOPPED:
            return "This project was stopped; its checklist is read-only. See `/distill history`."
        if project.closed_at is not None:
            return "That checklist is from an earlier cycle and is read-only; the newest thread goes on."
        if project.status == ProjectStatus.STARTING:
            return "This project is still being set up; try again in a moment."

        # Read once per click: this transaction holds the project's lock.
        facts = gate_facts(session, project, self.clock())
        existing = next((tick for tick in facts.ticks if tick.item_key == click.ref.item_key), None)
        standing = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
        reopened = gate.reopened_items(self.template, standing, facts.ticked, facts.done(self.template))
        decision = gate.decide_toggle(
            self.template,
            standing,
            phase_number=click.ref.phase_number,
            item_key=click.ref.item_key,
            want_ticked=click.selected,
            existing=gate.TickState(existing.ticked_by, existing.version) if existing else None,
            user_id=click.user_id,
            seen_version=click.ref.version,
            missing_evidence=self._missing_evidence(facts.evidence, click.ref.item_key),
            reopened=click.ref.item_key in reopened,
        )
        if isinstance(decision, gate.Refusal):
            if decision.redraw:
                # The clicker's checkbox shows a state we refused: a new block id resets it.
                project.version += 1
                queries.mark_messages_stale(
                    session, project, kinds_and_phases=[(MessageKind.PHASE, click.ref.phase_number)]
                )
            return decision.reason
        if decision is not gate.Change.NONE:
            self._apply(session, project, click, decision, existing, facts)
        return None

    def _apply(
        self,
        session: Session,
        project: Project,
        click: ItemClick,
        change: gate.Change,
        existing: Tick | None,
        facts: GateFacts,
    ) -> None:
        now = self.clock()
        if change is gate.Change.TICK:
            queries.add_tick(
                session,
                project,
                item_key=click.ref.item_key,
                phase_number=click.ref.phase_number,
                user_id=click.user_id,
                now=now,
            )
        else:
            assert existing is not None  # decide_toggle unticks only what is ticked
            queries.remove_tick(session, project, existing, user_id=click.user_id, now=now)
        key = click.ref.item_key
        ticked = facts.ticked | {key} if change is gate.Change.TICK else facts.ticked - {key}
        done = facts.done(self.template, ticked)  # the click changed the ticks, nothing else
        self.advance_gate(session, project, user_id=click.user_id, now=now, done=done)
        queries.mark_messages_stale(
            session,
            project,
            kinds_and_phases=[(MessageKind.PARENT, 0), (MessageKind.PHASE, click.ref.phase_number)],
        )

    def advance_gate(
        self, session: Session, project: Project, *, user_id: str, now: datetime, done: set[str] | None = None
    ) -> None:
        """After a change: open the next phase (or ship) if the current one is done, and re-arm nudges.
        After a reopened phase passes again, later phases whose items all still count pass too.
        `done`: the items that count after the change, when the caller knows them already."""
        while True:
            before = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
            if done is None:
                done = done_items(session, project, self.template, now)
            after = gate.next_standing(self.template, before, done)
            done = None  # passing a phase can change what counts (committing the bars): read again
            if after == before:
                break
            # The gate opens: announce it, then open the next phase (or ship).
            queries.put_message(
                session, project, kind=MessageKind.PHASE_DONE, phase_number=before.current_phase, repost=True
            )
            queries.add_project_event(
                session,
                project,
                kind=ProjectEventKind.PHASE_PASSED,
                phase_number=before.current_phase,
                user_id=user_id,
                now=now,
            )
            if before.current_phase == render.bars_phase(self.template):
                self._commit_bars(session, project, user_id=user_id, now=now)
            if after.shipped:
                project.status = ProjectStatus.SHIPPED
                project.shipped_at = now
                queries.add_project_event(
                    session, project, kind=ProjectEventKind.SHIPPED, user_id=user_id, now=now
                )
            else:
                project.current_phase = after.current_phase
                queries.put_message(
                    session, project, kind=MessageKind.PHASE, phase_number=after.current_phase
                )
            queries.mark_messages_stale(
                session, project, kinds_and_phases=[(MessageKind.PHASE, before.current_phase)]
            )
        session.add(project)
        schedules.on_progress(session, project, now, self.nudge_policy)

    def _commit_bars(self, session: Session, project: Project, *, user_id: str, now: datetime) -> None:
        # Passing the success phase freezes the bars: later changes are amendments.
        project.bars_committed_at, project.bars_committed_by = now, user_id
        if queries.current_bars(session, project.id or 0) is not None:
            queries.put_message(
                session, project, kind=MessageKind.BARS, phase_number=render.bars_phase(self.template) or 0
            )

    def project_view(self, session: Session, project: Project) -> render.ProjectView:
        return project_view(session, project, self.template, self.clock())

    def _missing_evidence(self, found: evidence.Evidence, item_key: str) -> str | None:
        item = self.template.item(item_key)
        if item is None or item.evidence is None:
            return None
        missing = evidence.missing_evidence(item.evidence, found)
        return render.missing_evidence_text(missing) if missing else None
