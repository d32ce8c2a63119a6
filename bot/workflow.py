"""The checklist workflow: reads and writes storage, applies the rules, keeps Slack in step.

Listeners hand requests in as plain values and get back the text to show the user. Every
change is committed first; Slack's messages are then redrawn from the database, so they
converge to what is stored whatever order requests arrive in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.checklist import evidence, gate
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.nudges import schedules
from bot.nudges.timing import zone
from bot.readback import find_in_channel, find_in_thread
from bot.rendering import messages as render
from bot.rendering.ids import ItemRef
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind, PostedMessage, Project, ProjectStatus, Tick

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 80
# A worker that claimed a message and died is presumed gone after this long.
CLAIM_TIMEOUT = timedelta(minutes=2)
# Metadata event types on the bot's posts, so a retry can find a post it never heard back about.
MESSAGE_EVENT = "distill_message"
PARENT_EVENT = "distill_parent"
# Redraws of one message in one sync before leaving the rest to the next change.
MAX_REDRAWS = 5

# Slack errors meaning the bot cannot post here until a person does something.
_CANNOT_POST = {
    "channel_not_found": "I can't post in this channel. If it is private, invite me first "
    "(`/invite @Distill Bot`), then run `/distill start` again.",
    "not_in_channel": "I'm not a member of this channel. Invite me (`/invite @Distill Bot`), "
    "then run `/distill start` again.",
    "is_archived": "This channel is archived, so I can't post the checklist here.",
    "restricted_action": "This workspace does not let me post here. Ask an admin, or use another channel.",
}
_DIRECT_MESSAGE = (
    "Distill Bot runs a project's checklist in the project's channel, not in direct messages. "
    "Run `/distill start` in the channel your team works in."
)
NO_PROJECT = "There is no distillation project in this channel yet. Start one with `/distill start [name]`."


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
    ) -> None:
        self.engine = engine
        self.template = template
        self.slack = slack
        self.clock = clock
        self.nudge_policy = nudge_policy or schedules.NudgePolicy()

    # --- commands ---------------------------------------------------------------------------

    def start(self, request: StartRequest) -> str | None:
        """Open the channel's project and post its thread; returns a reply for the user, if any."""
        if request.channel_id.startswith("D"):
            return _DIRECT_MESSAGE
        name = " ".join(request.name.split())
        if len(name) > MAX_NAME_LENGTH:
            return f"Project names can be at most {MAX_NAME_LENGTH} characters; that one has {len(name)}."

        self._recover_abandoned_start(request.team_id, request.channel_id)
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
        return self._open_thread(
            project_id, on_failure=lambda session: queries.delete_project(session, project_id)
        )

    def _recover_abandoned_start(self, team_id: str, channel_id: str) -> None:
        """A start whose worker died mid-way: adopt its parent message if Slack has it, else
        clear the row so this start can take its place."""
        with session_scope(self.engine) as session:
            project = queries.get_open_project(session, team_id, channel_id)
            if (
                project is None
                or project.status != ProjectStatus.STARTING
                or project.started_at >= self.clock() - CLAIM_TIMEOUT
            ):
                return
            project_id, started_at = project.id or 0, project.started_at
        try:
            ts = find_in_channel(
                self.slack,
                channel_id,
                PARENT_EVENT,
                "project_id",
                project_id,
                oldest=started_at.timestamp() - 1,
            )
        except SlackClientError as error:
            log.warning("cannot read back the channel for project %s: %s", project_id, _reason(error))
            return  # try again with the next start; never risk a second parent message
        if ts is None:
            with session_scope(self.engine) as session:
                queries.delete_project(session, project_id)
            return
        self._finish_thread(project_id, ts, adopted=True)

    def _open_thread(self, project_id: int, *, on_failure: Callable[[Session], None]) -> str | None:
        """Post a new project's (or cycle's) parent message and its open phase in the thread."""
        with session_scope(self.engine) as session:
            project = _must_get(session, project_id)
            parent = render.parent_message(self.template, self.project_view(session, project))
        try:
            response = self.slack.chat_postMessage(
                channel=project.channel_id,
                text=parent.text,
                blocks=parent.blocks,
                metadata={"event_type": PARENT_EVENT, "event_payload": {"project_id": project_id}},
                unfurl_links=False,
            )
        except SlackClientError as error:
            with session_scope(self.engine) as session:
                on_failure(session)  # leave nothing half-made
            return _cannot_post_reply(error)

        self._finish_thread(project_id, str(response["ts"]))
        return None

    def _finish_thread(self, project_id: int, ts: str, *, adopted: bool = False) -> None:
        """Record the posted parent message, activate the project and post its open phase.
        An `adopted` parent (posted by a worker that died) is redrawn from the database."""
        with session_scope(self.engine) as session:
            channel_id = _must_get(session, project_id).channel_id
        permalink = self._permalink(channel_id, ts)
        with session_scope(self.engine) as session:
            project = _must_get(session, project_id)
            queries.add_message(session, project, kind=MessageKind.PARENT, ts=ts)
            if adopted:
                project.version += 1
                queries.mark_messages_stale(session, project, kinds_and_phases=[(MessageKind.PARENT, 0)])
            queries.activate_project(session, project, permalink=permalink)
            queries.add_message(session, project, kind=MessageKind.PHASE, phase_number=project.current_phase)
            schedules.on_progress(session, project, self.clock(), self.nudge_policy)
        self.sync(project_id)
        return None

    def start_cycle(self, from_project_id: int, user_id: str) -> str | None:
        """Re-distill: a new cycle in a new thread, the phases that carry over ticked as they were."""
        now = self.clock()
        with session_scope(self.engine) as session:
            old = queries.get_project(session, from_project_id, for_update=True)
            if old is None or old.closed_at is not None:
                return "A newer cycle of this project has already started."
            if old.status != ProjectStatus.SHIPPED:
                return "Only a shipped project can start a re-distillation cycle."
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
            queries.copy_schedule_settings(session, old, new)
            owners = queries.list_owners(session, old.id or 0)
            for owner in [*owners, *([] if user_id in owners else [user_id])]:
                queries.add_owner(session, new, user_id=owner, added_by=user_id, now=now)
            new_id = new.id or 0

        def reopen_old(session: Session) -> None:
            queries.delete_project(session, new_id)
            reopened = _must_get(session, from_project_id)
            reopened.closed_at = None
            session.add(reopened)

        reply = self._open_thread(new_id, on_failure=reopen_old)
        self.sync(from_project_id)
        return reply

    def status(self, team_id: str, channel_id: str) -> str:
        with session_scope(self.engine) as session:
            project = channel_project(session, team_id, channel_id)
            if project is None:
                return NO_PROJECT
            status = render.status_text(self.template, self.project_view(session, project))
            return f"{status}\n{schedules.next_nudge_line(session, project, self.nudge_policy)}"

    def _user_timezone(self, user_id: str) -> str | None:
        """The starter's time zone from their Slack profile, if Slack tells us and we know it."""
        try:
            name = str(self.slack.users_info(user=user_id)["user"]["tz"])
            return zone(name).key
        except (SlackClientError, KeyError, TypeError, ValueError):
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
        except (SlackClientError, KeyError, TypeError):
            name = request.channel_name
        name = str(name or "").strip()
        if not name or name in {"privategroup", "directmessage"}:
            return "Distillation project"
        return name[:MAX_NAME_LENGTH]

    def _permalink(self, channel_id: str, ts: str) -> str | None:
        try:
            return str(self.slack.chat_getPermalink(channel=channel_id, message_ts=ts)["permalink"])
        except (SlackClientError, KeyError):
            log.warning("no permalink for %s/%s; status will point to the channel", channel_id, ts)
            return None

    # --- interactions -----------------------------------------------------------------------

    def toggle(self, click: ItemClick) -> str | None:
        """Apply one checkbox click; returns an explanation for the user when it changes nothing."""
        with session_scope(self.engine) as session:
            project = queries.get_project(session, click.ref.project_id, for_update=True)
            if project is None or (project.team_id, project.channel_id) != (click.team_id, click.channel_id):
                return "That checklist belongs to a project in another channel, or no longer exists."
            if project.closed_at is not None:
                return "That checklist is from an earlier cycle and is read-only; the newest thread goes on."
            if project.status == ProjectStatus.STARTING:
                return "This project is still being set up; try again in a moment."

            existing = queries.get_tick(session, project.id or 0, click.ref.item_key)
            standing = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
            decision = gate.decide_toggle(
                self.template,
                standing,
                phase_number=click.ref.phase_number,
                item_key=click.ref.item_key,
                want_ticked=click.selected,
                existing=gate.TickState(existing.ticked_by, existing.version) if existing else None,
                user_id=click.user_id,
                seen_version=click.ref.version,
                missing_evidence=self._missing_evidence(session, project, click.ref.item_key),
            )
            if isinstance(decision, gate.Refusal):
                if decision.redraw:
                    # The clicker's checkbox shows a state we refused: a new block id resets it.
                    project.version += 1
                    queries.mark_messages_stale(
                        session, project, kinds_and_phases=[(MessageKind.PHASE, click.ref.phase_number)]
                    )
                reply: str | None = decision.reason
            else:
                reply = None
                if decision is not gate.Change.NONE:
                    self._apply(session, project, click, decision, existing)
            project_id = project.id or 0
        self.sync(project_id)
        return reply

    def _apply(
        self, session: Session, project: Project, click: ItemClick, change: gate.Change, existing: Tick | None
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
        self.advance_gate(session, project, user_id=click.user_id, now=now)
        queries.mark_messages_stale(
            session,
            project,
            kinds_and_phases=[(MessageKind.PARENT, 0), (MessageKind.PHASE, click.ref.phase_number)],
        )

    def advance_gate(self, session: Session, project: Project, *, user_id: str, now: datetime) -> None:
        """After a change: open the next phase (or ship) if the current one is done, and re-arm nudges."""
        before = gate.Standing(project.current_phase, project.status == ProjectStatus.SHIPPED)
        after = gate.next_standing(self.template, before, done_items(session, project, self.template))
        if after != before:
            # The gate opens: announce it, then open the next phase (or ship).
            queries.add_message(
                session, project, kind=MessageKind.PHASE_DONE, phase_number=before.current_phase
            )
            if before.current_phase == render.bars_phase(self.template):
                self._commit_bars(session, project, user_id=user_id, now=now)
            if after.shipped:
                project.status = ProjectStatus.SHIPPED
                project.shipped_at = now
            else:
                project.current_phase = after.current_phase
                queries.add_message(
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
            queries.add_message(
                session, project, kind=MessageKind.BARS, phase_number=render.bars_phase(self.template) or 0
            )

    # --- keeping Slack in step --------------------------------------------------------------

    def sync(self, project_id: int) -> None:
        """Post what is unposted and redraw what is stale, in thread order."""
        with session_scope(self.engine) as session:
            pending = sorted(queries.list_messages(session, project_id), key=_thread_order)
        for message in pending:
            if message.ts is None:
                if not self._post(message):
                    break  # keep the thread in order: later messages wait for this one
            elif message.rendered_version < message.wanted_version:
                self._redraw(message.id or 0)

    def repair(self) -> int:
        """Sync every project whose messages lag the database (after a restart or a Slack outage)."""
        with session_scope(self.engine) as session:
            project_ids = sorted({message.project_id for message in queries.list_stale_messages(session)})
        for project_id in project_ids:
            self.sync(project_id)
        return len(project_ids)

    def _post(self, message: PostedMessage) -> bool:
        message_id = message.id or 0
        with session_scope(self.engine) as session:
            attempt = queries.claim_message(session, message_id, now=self.clock(), stale_after=CLAIM_TIMEOUT)
        if attempt is None:
            return False  # another worker is posting it
        with session_scope(self.engine) as session:
            project = _must_get(session, message.project_id)
            thread_ts = queries.get_thread_ts(session, message.project_id)
            wanted = _must_get_message(session, message_id).wanted_version
            content = self._render(session, project, message)
        try:
            ts = None
            if attempt > 1 and thread_ts:  # an earlier attempt may have reached Slack
                ts = find_in_thread(
                    self.slack, project.channel_id, thread_ts, MESSAGE_EVENT, "message_id", message_id
                )
            if ts is None:
                response = self.slack.chat_postMessage(
                    channel=project.channel_id,
                    thread_ts=thread_ts,
                    text=content.text,
                    blocks=content.blocks,
                    metadata={"event_type": MESSAGE_EVENT, "event_payload": {"message_id": message_id}},
                    unfurl_links=False,
                )
                ts = str(response["ts"])
        except SlackClientError as error:
            log.warning(
                "could not post %s message of project %s: %s", message.kind, project.id, _reason(error)
            )
            with session_scope(self.engine) as session:
                queries.release_message(session, message_id)
            return False
        with session_scope(self.engine) as session:
            queries.record_posted(session, message_id, ts=ts, version=wanted)
            stale = _must_get_message(session, message_id).wanted_version > wanted
        if stale or attempt > 1:
            self._redraw(message_id)  # an adopted post shows what was drawn back then
        return True

    def _redraw(self, message_id: int) -> None:
        # Updates can land in Slack out of order; whoever lands last checks that it drew the
        # newest state, and draws again if not, so Slack ends at what is stored.
        for _ in range(MAX_REDRAWS):
            with session_scope(self.engine) as session:
                message = _must_get_message(session, message_id)
                wanted = message.wanted_version
                project = _must_get(session, message.project_id)
                content = self._render(session, project, message)
            assert message.ts is not None  # only posted messages are redrawn
            try:
                self.slack.chat_update(
                    channel=project.channel_id, ts=message.ts, text=content.text, blocks=content.blocks
                )
            except SlackClientError as error:
                log.warning("could not update message of project %s: %s", project.id, _reason(error))
                return
            with session_scope(self.engine) as session:
                queries.record_rendered(session, message_id, version=wanted)
                if _must_get_message(session, message_id).wanted_version == wanted:
                    return

    def project_view(self, session: Session, project: Project) -> render.ProjectView:
        return _project_view(session, project, self.template)

    def _missing_evidence(self, session: Session, project: Project, item_key: str) -> str | None:
        item = self.template.item(item_key)
        if item is None or item.evidence is None:
            return None
        return evidence.missing_evidence(item.evidence, load_evidence(session, project))

    def _render(self, session: Session, project: Project, message: PostedMessage) -> render.Message:
        view = self.project_view(session, project)
        if message.kind == MessageKind.PARENT:
            return render.parent_message(self.template, view)
        if message.kind == MessageKind.PHASE:
            return render.phase_message(self.template, view, message.phase_number)
        if message.kind == MessageKind.BARS:
            return render.bars_message(view)
        return render.phase_done_message(self.template, view, message.phase_number)


def channel_project(session: Session, team_id: str, channel_id: str) -> Project | None:
    """The channel's open project, once it is fully started."""
    project = queries.get_open_project(session, team_id, channel_id)
    return None if project is None or project.status == ProjectStatus.STARTING else project


def done_items(session: Session, project: Project, template: Template) -> set[str]:
    """Items that count for the gate now (see gate.counted)."""
    project_id = project.id or 0
    ticked = {tick.item_key for tick in queries.list_ticks(session, project_id)}
    waived = {
        waiver.item_key for waiver in queries.list_waivers(session, project_id) if waiver.ended_at is None
    }
    return gate.counted(template, ticked, waived, load_evidence(session, project))


def load_evidence(session: Session, project: Project) -> evidence.Evidence:
    """The bars in force and the newest evaluation, as the rules and renderers see them."""
    project_id = project.id or 0
    bars = None
    if found := queries.current_bars(session, project_id):
        row, slices = found
        bars = evidence.BarsView(
            quality_metric=row.quality_metric,
            quality_threshold=row.quality_threshold,
            slices=tuple(evidence.SliceBarView(s.name, s.metric, s.threshold, s.critical) for s in slices),
            cost_target=row.cost_target,
            latency_p95_ms=row.latency_p95_ms,
            acceptable_gap=row.acceptable_gap,
            recorded_by=row.recorded_by,
            recorded_at=row.recorded_at,
            amendment_reason=row.amendment_reason,
        )
    latest = None
    if found_evaluation := queries.latest_evaluation(session, project_id):
        row_e, scores = found_evaluation
        latest = evidence.EvaluationView(
            evaluation_id=row_e.id or 0,
            student_score=row_e.student_score,
            teacher_score=row_e.teacher_score,
            slice_scores={score.name: (score.student_score, score.teacher_score) for score in scores},
            latency_p95_ms=row_e.latency_p95_ms,
            cost=row_e.cost,
            recorded_by=row_e.recorded_by,
            recorded_at=row_e.recorded_at,
        )
    return evidence.Evidence(
        bars=bars,
        evaluation=latest,
        committed_at=project.bars_committed_at,
        committed_by=project.bars_committed_by,
    )


def _project_view(session: Session, project: Project, template: Template) -> render.ProjectView:
    ticks = queries.list_ticks(session, project.id or 0)
    waivers = [waiver for waiver in queries.list_waivers(session, project.id or 0) if waiver.ended_at is None]
    proof = load_evidence(session, project)
    return render.ProjectView(
        counted_keys=frozenset(
            gate.counted(template, {t.item_key for t in ticks}, {w.item_key for w in waivers}, proof)
        ),
        waivers={
            w.item_key: render.WaiverView(w.waived_by, w.waived_at, w.reason, w.expires_at) for w in waivers
        },
        evidence=proof,
        cycle=project.cycle,
        closed=project.closed_at is not None,
        project_id=project.id or 0,
        name=project.name,
        started_by=project.started_by,
        started_at=project.started_at,
        current_phase=project.current_phase,
        shipped=project.status == ProjectStatus.SHIPPED,
        shipped_at=project.shipped_at,
        version=project.version,
        permalink=project.permalink,
        ticks={tick.item_key: render.TickView(tick.ticked_by, tick.ticked_at) for tick in ticks},
    )


def _must_get(session: Session, project_id: int) -> Project:
    project = queries.get_project(session, project_id)
    if project is None:
        raise LookupError(f"project {project_id} vanished")
    return project


def _must_get_message(session: Session, message_id: int) -> PostedMessage:
    message = queries.get_message(session, message_id)
    if message is None:
        raise LookupError(f"message {message_id} vanished")
    return message


_KIND_ORDER = {MessageKind.PARENT: 0, MessageKind.PHASE: 1, MessageKind.PHASE_DONE: 2, MessageKind.BARS: 3}


def _thread_order(message: PostedMessage) -> tuple[int, int]:
    return (message.phase_number, _KIND_ORDER.get(message.kind, 3))


def _reason(error: SlackClientError) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown_error"))
    return type(error).__name__


def _cannot_post_reply(error: SlackClientError) -> str:
    reason = _reason(error)
    return _CANNOT_POST.get(
        reason, f"Slack did not accept the checklist ({reason}); nothing was created. Try again in a minute."
    )
