"""Nudges from database to Slack: due occurrences become rows, rows are leased, posted once.

Every replica runs the same loop (driven by APScheduler, see scheduled.py). Exactly-once
comes from the database, not from the scheduler: a due schedule is turned into nudge rows
under a row lock that other replicas skip; a nudge is leased before it is posted; and a
worker that takes over an expired lease first asks Slack whether the nudge was already
posted (each nudge carries its id in the message metadata), so a crash between Slack's
"ok" and the database's commit never posts twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlmodel import Session

from bot import permissions
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.nudges import rules, schedules
from bot.nudges.pacing import PostingPace
from bot.nudges.timing import zone
from bot.project_state import NO_PROJECT, channel_project
from bot.rendering import nudges as render
from bot.rendering.mrkdwn import escape
from bot.slack_sync import SETTLE, SLACK_FAILURES, PostPlace, reason_of, saved_but_behind
from bot.workflow import NOT_SHIPPED, Workflow
from storage import queries
from storage.engine import session_scope
from storage.models import Nudge, NudgeStatus, Project, ProjectStatus

log = logging.getLogger(__name__)

METADATA_EVENT = "distill_nudge"
# Due schedules turned into nudges per transaction, and nudges claimed at most per claim.
PLAN_BATCH = 1000
CLAIM_BATCH = 1000
# A pass stops claiming after this long; the next pass (NUDGE_POLL_SECONDS) goes on.
PASS_SECONDS = 60.0
# Nudges a button click may send (its own project's only): a drift report's offer.
ANSWER_BATCH = 5
# Threads read back per pass for late copies of nudges (each is one conversations.replies).
CHECK_BATCH = 20
MAX_BACKOFF = timedelta(hours=1)
# Slack errors that no retry fixes: pause the project's nudges until someone acts.
PAUSING_ERRORS = {
    "is_archived": "the channel is archived. Unarchive it, then run `/distill schedule resume`.",
    "channel_not_found": "I can no longer see the channel. Invite me, then run `/distill schedule resume`.",
    "not_in_channel": "I was removed from the channel. Invite me back, then run `/distill schedule resume`.",
}
# Which row of the permission table each nudge button is.
ANSWER_PERMISSIONS = {
    rules.Answer.NO_DRIFT: permissions.ANSWER_DRIFT,
    rules.Answer.DRIFT_FOUND: permissions.ANSWER_DRIFT,
    rules.Answer.SNOOZE_DRIFT: permissions.SNOOZE,
    rules.Answer.SNOOZE_STALL: permissions.SNOOZE,
    rules.Answer.NOT_YET: permissions.SNOOZE,
    rules.Answer.START_REDISTILL: permissions.START_CYCLE,
}
# The thread cannot be read back, so nobody can tell whether an earlier attempt was posted.
CANNOT_READ_BACK = (
    "I can't read this channel's thread (`{reason}`), so I can't check whether a reminder already went "
    "out. Invite me (`/invite @Distill Bot`), then run `/distill schedule resume`."
)


@dataclass(frozen=True)
class NudgeClick:
    team_id: str
    channel_id: str
    user_id: str
    nudge_id: int
    answer: rules.Answer


class NudgeService:
    def __init__(
        self,
        engine: Engine,
        template: Template,
        slack: WebClient,
        clock: Clock,
        workflow: Workflow,
        *,
        policy: schedules.NudgePolicy,
        lease: timedelta,
        pace: PostingPace,
    ) -> None:
        self.engine = engine
        self.template = template
        self.slack = slack
        self.clock = clock
        self.workflow = workflow
        self.policy = policy
        self.lease = lease
        self.pace = pace

    # --- the loop ---------------------------------------------------------------------------

    def run_due(self, seconds: float = PASS_SECONDS) -> int:
        """One pass: turn due schedules into nudges, then send what is ready, at Slack's pace,
        for about `seconds`. Returns sends."""
        while self._materialize_batch():
            pass
        sent = 0
        ends = time.monotonic() + seconds
        # Claim no more than can be posted well within the lease, so no claim runs out unsent.
        most = min(CLAIM_BATCH, self.pace.posts_within(min(seconds, self.lease.total_seconds() / 2)))
        while time.monotonic() < ends and (claimed := self._claim_batch(most)):
            sent += sum(self._deliver(nudge_id, token) for nudge_id, token in claimed)
        self._count_copies()
        return sent

    def _materialize_batch(self) -> bool:
        now = self.clock()
        with session_scope(self.engine) as session:
            due = queries.lock_due_schedules(session, now=now, limit=PLAN_BATCH)
            nudges: list[dict[str, Any]] = []
            changes: list[dict[str, object]] = []
            for schedule in due:
                calendar = self.policy.calendar_for(schedule.timezone)
                cadence = schedules.cadence_of(schedule)
                occurrences = rules.due_occurrences(cadence, calendar, now)
                if not occurrences:  # stored under other settings (working hours, zone data): recompute
                    changes.append(schedules.next_due_change(schedule.id, cadence, calendar))
                    continue
                *superseded, latest = occurrences
                nudges.extend(
                    queries.nudge_row(
                        schedule.project_id,
                        kind=schedule.kind,
                        due_at=missed,
                        status=NudgeStatus.SKIPPED,
                        next_attempt_at=missed,
                        skip_reason="superseded: a later one fell due while the bot was down",
                    )
                    for missed in superseded
                )
                # A late one (the bot was down) still waits for working hours.
                nudges.append(
                    queries.nudge_row(
                        schedule.project_id,
                        kind=schedule.kind,
                        due_at=latest,
                        status=NudgeStatus.PENDING,
                        next_attempt_at=calendar.working_moment(max(latest, now)),
                    )
                )
                changes.append(schedules.next_due_change(schedule.id, cadence.after(latest), calendar))
            queries.add_nudges(session, nudges)
            queries.store_next_due(session, changes)
            return len(due) == PLAN_BATCH

    def _send_ready(self, project_id: int) -> int:
        """Send what this project has ready (a drift report's offer), and nothing of any other
        project's: a button click's work stays bounded whatever else is due (the scheduler's
        pass sends that)."""
        claimed = self._claim_batch(ANSWER_BATCH, project_id=project_id)
        return sum(self._deliver(nudge_id, token) for nudge_id, token in claimed)

    def _claim_batch(
        self, limit: int = CLAIM_BATCH, *, project_id: int | None = None
    ) -> list[tuple[int, str]]:
        """Lease up to `limit` nudges that are ready (only one project's, when given), in one
        statement; one token for the batch."""
        now = self.clock()
        token = str(uuid.uuid4())
        with session_scope(self.engine) as session:
            claimed = queries.claim_nudges(
                session, now=now, limit=limit, token=token, until=now + self.lease, project_id=project_id
            )
        return [(nudge_id, token) for nudge_id in claimed]

    def _deliver(self, nudge_id: int, token: str) -> bool:
        with session_scope(self.engine) as session:
            nudge = _must(queries.get_nudge(session, nudge_id))
            project = _must(queries.get_project(session, nudge.project_id))
            thread_ts = queries.get_thread_ts(session, project.id or 0)
            skip = self._skip_reason(session, nudge, project)
            content = render.nudge_message(
                self.template, self.workflow.project_view(session, project), _view(session, nudge)
            )
            attempts = nudge.attempts
        if skip or thread_ts is None:
            return self._finish(nudge_id, token, status=NudgeStatus.SKIPPED, skip_reason=skip or "no thread")
        place = PostPlace(project.channel_id, thread_ts, METADATA_EVENT, "nudge_id", nudge_id)
        self.pace.wait_turn(project.channel_id)
        # Past the first attempt an earlier one may have reached Slack: read back before posting.
        outcome = self.workflow.slack_sync.post_once(place, content, read_back_first=attempts > 1)
        if outcome.ts is not None:
            now = self.clock()
            recount = now + SETTLE if attempts > 1 else None  # a late copy may still land
            if self._finish(
                nudge_id, token, status=NudgeStatus.SENT, ts=outcome.ts, sent_at=now, check_after=recount
            ):
                return True
            # The post took longer than the lease, and another worker took the nudge over: it may
            # have posted too. Once Slack has settled, the thread is read back and one copy kept.
            with session_scope(self.engine) as session:
                queries.recheck_nudge(session, nudge_id, at=now + SETTLE)
            return False
        if outcome.cannot_read:  # not the post: the read before it
            self._pause(project.id or 0, CANNOT_READ_BACK.format(reason=outcome.reason))
            return self._finish(nudge_id, token, status=NudgeStatus.PENDING, last_error=outcome.reason)
        if outcome.refused in PAUSING_ERRORS:
            self._pause(project.id or 0, PAUSING_ERRORS[outcome.refused])
            return self._finish(nudge_id, token, status=NudgeStatus.PENDING, last_error=outcome.refused)
        return self._retry_later(nudge_id, token, attempts, outcome.reason)

    def _count_copies(self) -> None:
        """Sent nudges that followed a post whose answer never came, or whose redraw Slack
        failed: once Slack has settled, read the thread back, delete any late second copy so
        the thread shows one, and draw the one kept as stored."""
        with session_scope(self.engine) as session:
            due = [
                (nudge.id or 0, nudge.ts, nudge.project_id, nudge.answer is not None)
                for nudge in queries.nudges_to_check(session, now=self.clock(), limit=CHECK_BATCH)
            ]
        for nudge_id, ts, project_id, answered in due:
            with session_scope(self.engine) as session:
                project = _must(queries.get_project(session, project_id))
                thread_ts = queries.get_thread_ts(session, project_id)
            place = PostPlace(project.channel_id, thread_ts, METADATA_EVENT, "nudge_id", nudge_id)
            try:
                kept = self.workflow.slack_sync.keep_one_copy(place) if thread_ts else ts
            except SLACK_FAILURES as error:
                log.warning("could not read back nudge %s: %s", nudge_id, reason_of(error))
                continue  # the next pass tries again
            with session_scope(self.engine) as session:
                nudge = _must(queries.get_nudge(session, nudge_id, for_update=True))
                nudge.ts, nudge.check_after = kept or nudge.ts, None
                session.add(nudge)
            if (kept is not None and kept != ts) or answered:
                self._redraw(nudge_id)

    def _redraw(self, nudge_id: int) -> bool:
        """Show the nudge as stored; False when Slack failed (the next pass draws it again)."""
        with session_scope(self.engine) as session:
            nudge = _must(queries.get_nudge(session, nudge_id))
            project = _must(queries.get_project(session, nudge.project_id))
            message_ts, channel = nudge.ts, project.channel_id
            content = render.nudge_message(
                self.template, self.workflow.project_view(session, project), _view(session, nudge)
            )
        if message_ts:
            try:
                self.slack.chat_update(
                    channel=channel, ts=message_ts, text=content.text, blocks=content.blocks
                )
            except SLACK_FAILURES as error:
                log.warning("could not update nudge %s: %s", nudge_id, reason_of(error))
                with session_scope(self.engine) as session:
                    queries.recheck_nudge(session, nudge_id, at=self.clock() + SETTLE)
                return False
        return True

    def _skip_reason(self, session: Session, nudge: Nudge, project: Project) -> str | None:
        """Why a nudge became pointless between falling due and being sent, if it did."""
        if project.status == ProjectStatus.STOPPED:
            return "the project was stopped"
        if project.closed_at is not None:
            return "the project moved on to a new cycle"
        if nudge.kind == rules.REDISTILL_OFFER:
            return None
        wanted_status = ProjectStatus.ACTIVE if nudge.kind == rules.STALL else ProjectStatus.SHIPPED
        if project.status != wanted_status:
            return "the project is no longer in that stage"
        schedule = schedules.ensure_schedules(session, project)[nudge.kind]
        if not schedule.enabled:
            return "its schedule was turned off"
        if schedule.anchor_at is not None and schedule.anchor_at > nudge.due_at:
            return "superseded by later progress or an answer"
        return None

    def _retry_later(self, nudge_id: int, token: str, attempts: int, reason: str) -> bool:
        log.warning("nudge %s not sent (%s); retrying later", nudge_id, reason)
        # At least a minute: longer than Slack takes to settle, so a post whose answer never
        # came is in the thread by the time the next attempt reads it back.
        backoff = min(timedelta(minutes=1) * 2 ** (attempts - 1), MAX_BACKOFF)
        self._finish(
            nudge_id,
            token,
            status=NudgeStatus.PENDING,
            next_attempt_at=self.clock() + backoff,
            last_error=reason,
        )
        return False

    def _finish(self, nudge_id: int, token: str, **values: Any) -> bool:
        with session_scope(self.engine) as session:
            kept = queries.finish_nudge(session, nudge_id, token, **values)
        if not kept:
            log.warning("nudge %s: lease lost to another worker", nudge_id)
        return kept and values.get("status") == NudgeStatus.SENT

    def _pause(self, project_id: int, reason: str) -> None:
        log.warning("pausing nudges of project %s: %s", project_id, reason)
        with session_scope(self.engine) as session:
            project = _must(queries.get_project(session, project_id, for_update=True))
            project.nudges_paused_reason = reason
            session.add(project)

    # --- buttons ----------------------------------------------------------------------------

    def answer(self, click: NudgeClick) -> str | None:
        """Record a button press on a nudge; returns an explanation when it changes nothing."""
        now = self.clock()
        start_cycle_from: int | None = None
        with session_scope(self.engine) as session:
            nudge = queries.get_nudge(session, click.nudge_id, for_update=True)
            project = queries.get_project(session, nudge.project_id) if nudge else None
            if (
                nudge is None
                or project is None
                or (project.team_id, project.channel_id)
                != (
                    click.team_id,
                    click.channel_id,
                )
            ):
                return "That reminder belongs to a project in another channel, or no longer exists."
            if not click.answer.answers(nudge.kind):
                return "That button does not belong to this reminder."
            if refused := permissions.refusal(
                session,
                project,
                ANSWER_PERMISSIONS[click.answer],
                user_id=click.user_id,
                team_id=click.team_id,
                channel_id=click.channel_id,
            ):
                return refused
            if nudge.answer is not None:
                return f"<@{nudge.answered_by}> already answered this reminder: {_answer_label(nudge)}."
            if project.status == ProjectStatus.STOPPED:
                return "This project was stopped; its reminders are read-only."
            if project.closed_at is not None:
                return "This project has moved on to a new cycle; its old reminders are read-only."
            if click.answer is rules.Answer.START_REDISTILL and project.status != ProjectStatus.SHIPPED:
                return NOT_SHIPPED  # reopened since the offer: the offer stays open for when it ships
            nudge.answer, nudge.answered_by, nudge.answered_at = click.answer.key, click.user_id, now
            session.add(nudge)
            self._apply_answer(session, project, nudge, click, now)
            if click.answer is rules.Answer.START_REDISTILL:
                start_cycle_from = project.id
            project_id = project.id or 0
        shown = self._redraw(click.nudge_id)
        reply = None
        if start_cycle_from is not None:
            reply = self.workflow.start_cycle(start_cycle_from, click.user_id)
        self._send_ready(project_id)  # a drift report's offer goes out now
        return reply or (None if shown else saved_but_behind("answer"))

    def _apply_answer(
        self, session: Session, project: Project, nudge: Nudge, click: NudgeClick, now: datetime
    ) -> None:
        answer = click.answer
        if answer is rules.Answer.START_REDISTILL:
            return
        calendar = self.policy.calendar(project)
        schedule = schedules.ensure_schedules(session, project)[answer.kind]
        cadence = schedules.cadence_of(schedule).counting_from(now, answer.snooze_days)
        schedules.store_cadence(session, schedule, cadence, calendar)
        if answer is rules.Answer.DRIFT_FOUND:
            queries.add_nudge(
                session,
                project.id or 0,
                kind=rules.REDISTILL_OFFER,
                due_at=now,
                status=NudgeStatus.PENDING,
                next_attempt_at=now,
            )

    # --- commands ---------------------------------------------------------------------------

    def schedule_command(self, team_id: str, channel_id: str, user_id: str, argument: str) -> str:
        argument = argument.strip()
        with session_scope(self.engine) as session:
            project = channel_project(session, team_id, channel_id)
            if project is None:
                return NO_PROJECT
            wanted = (
                permissions.LIST_SCHEDULE
                if not argument
                else permissions.RESUME_NUDGES
                if argument.lower() == "resume"
                else permissions.CHANGE_SCHEDULE
            )
            if refused := permissions.refusal(
                session, project, wanted, user_id=user_id, team_id=team_id, channel_id=channel_id
            ):
                return refused
            if argument.lower() == "resume":
                project.nudges_paused_reason = None
                session.add(project)
            elif argument:
                try:
                    change = rules.parse_schedule_change(argument, self.policy.hours)
                except ValueError as error:
                    return escape(str(error))  # it quotes what the user typed
                self._change_schedule(session, project, change)
            schedules.refresh(session, project, self.policy)
            return self.describe(session, project)

    def timezone_command(self, team_id: str, channel_id: str, user_id: str, argument: str) -> str:
        with session_scope(self.engine) as session:
            project = channel_project(session, team_id, channel_id)
            if project is None:
                return NO_PROJECT
            wanted = permissions.CHANGE_TIMEZONE if argument.strip() else permissions.SHOW_TIMEZONE
            if refused := permissions.refusal(
                session, project, wanted, user_id=user_id, team_id=team_id, channel_id=channel_id
            ):
                return refused
            if not argument.strip():
                tz = self.policy.calendar(project).tz
                return f"This project's nudges follow {tz.key}. Change it with `/distill timezone Area/City`."
            try:
                project.timezone = zone(argument.strip()).key
            except ValueError as error:
                return escape(str(error))  # it quotes what the user typed
            session.add(project)
            schedules.refresh(session, project, self.policy)
            return self.describe(session, project)

    def _change_schedule(self, session: Session, project: Project, change: rules.ScheduleChange) -> None:
        schedule = schedules.ensure_schedules(session, project)[change.kind]
        if change.enabled is not None:
            schedule.enabled = change.enabled
        if change.every_days is not None:
            schedule.every_days = change.every_days
        if change.at is not None:
            schedule.at_time = change.at.strftime("%H:%M")
        session.add(schedule)

    def describe(self, session: Session, project: Project) -> str:
        return schedules.describe(session, project, self.policy)


def _view(session: Session, nudge: Nudge) -> render.NudgeView:
    reporter = None
    if nudge.kind == rules.REDISTILL_OFFER:
        report = queries.last_answered_nudge(session, nudge.project_id, rules.DRIFT)
        reporter = report.answered_by if report else None
    return render.NudgeView(
        nudge_id=nudge.id or 0,
        kind=nudge.kind,
        due_at=nudge.due_at,
        answer=rules.Answer.from_key(nudge.answer) if nudge.answer else None,
        answered_by=nudge.answered_by,
        answered_at=nudge.answered_at,
        drift_reported_by=reporter,
    )


def _answer_label(nudge: Nudge) -> str:
    answer = rules.Answer.from_key(nudge.answer or "")
    return answer.label if answer else str(nudge.answer)


def _must(value: Any) -> Any:
    if value is None:
        raise LookupError("row vanished")
    return value
