"""Keeping Slack's messages in step with the database.

Domain moves (the workflow, governance, nudge answers) change stored state in one
transaction and mark the messages they touched; this module then makes Slack match: it
claims and posts messages not yet in the thread, redraws stale ones, and reads the thread
back when a worker that died may already have posted. Every message is rendered from the
database, so Slack converges to what is stored whatever order requests arrive in.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlmodel import Session

from bot import membership
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.core.later import Later, run_soon
from bot.nudges import schedules
from bot.project_state import evaluation_and_bars, must_get, must_get_message, project_view
from bot.readback import ReadBackError, find_in_channel, find_in_thread
from bot.rendering import messages as render
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind, PostedMessage, Project, ProjectStatus

log = logging.getLogger(__name__)

# A worker that claimed a message and died is presumed gone after this long.
CLAIM_TIMEOUT = timedelta(minutes=2)
# Metadata event types on the bot's posts, so a retry can find a post it never heard back about.
MESSAGE_EVENT = "distill_message"
PARENT_EVENT = "distill_parent"
# Slack's chat.update is Tier 3 (about 50 a minute per workspace): a burst of ticks on one
# message is drawn at once and then at most once per interval, ending at what is stored.
REDRAW_INTERVAL = timedelta(seconds=1)
# Slack can store a post whose answer never came (a timeout, a dropped connection, a 5xx)
# seconds later. Such a post is not sent again, and its thread not trusted, before this has
# passed; then the thread is read back, and any extra copy the bot finds is deleted.
SETTLE = timedelta(seconds=20)
# What a Slack call can fail with: Slack's refusals, and calls whose answer never came
# (urllib raises timeouts as OSError, outside slack_sdk's error types).
SLACK_FAILURES = (SlackClientError, OSError)
# The repair pass reads the backlog this many projects at a time, and stops after this long
# (it shares the beat with the nudges); what is left waits for the next beat.
REPAIR_BATCH = 50
REPAIR_SECONDS = 10.0

# Slack errors that no retry of the same content fixes: the message is skipped past (and
# recorded) so the rest of the thread goes on. Anything else may pass on a retry.
PERMANENT_REFUSALS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "msg_blocks_too_long",
        "no_text",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "invalid_arguments",
    }
)
# Slack errors meaning the bot cannot post here until a person does something.
_CANNOT_POST = {
    "channel_not_found": "I can't post in this channel. If it is private, invite me first "
    "(`/invite @Distill Bot`), then run `/distill start` again.",
    "not_in_channel": "I'm not a member of this channel. Invite me (`/invite @Distill Bot`), "
    "then run `/distill start` again.",
    "is_archived": "This channel is archived, so I can't post the checklist here.",
    "restricted_action": "This workspace does not let me post here. Ask an admin, or use another channel.",
}

_ABANDONED_UNREADABLE = (
    "An earlier `/distill start` here did not finish, and Slack would not show me this channel "
    "(`{reason}`) to check whether its thread was posted, so I have not started again. "
    "If I'm not in this channel, invite me (`/invite @Distill Bot`); then run `/distill start` again."
)


SLOW_START = (
    "Slack did not answer in time, so I can't tell yet whether the checklist was posted. If no "
    "thread appears, run `/distill start` again in a few minutes: I will take up the one Slack "
    "stored rather than post a second."
)


def saved_but_behind(change: str) -> str:
    """The reply for a move that is stored although Slack failed to show it."""
    return f"Your {change} is saved; Slack is slow, the thread will catch up."


@dataclass(frozen=True)
class PostPlace:
    """Where a post goes, and the id it carries in Slack's metadata so it can be found again."""

    channel_id: str
    thread_ts: str | None  # None: a top-level message
    event_type: str
    key: str
    ref: int

    @property
    def metadata(self) -> dict[str, object]:
        return {"event_type": self.event_type, "event_payload": {self.key: self.ref}}


@dataclass(frozen=True)
class PostOutcome:
    ts: str | None = None  # Slack holds the message there
    adopted: bool = False  # found in the thread, as an earlier attempt drew it
    cannot_read: bool = False  # Slack would not let the bot read its thread back
    refused: str | None = None  # Slack's error: nothing was stored
    unknown: str | None = None  # no answer came: Slack may store it yet

    @property
    def reason(self) -> str:
        return self.refused or self.unknown or "ok"


class Progress(enum.Enum):
    DONE = "done"
    CLAIMED_ELSEWHERE = "claimed elsewhere"  # another worker is posting it
    BEHIND = "behind"  # Slack failed or is settling: the repair pass takes it up
    REFUSED = "refused"  # Slack refused it as it is, for good (recorded; status says so)


class SlackSync:
    def __init__(
        self,
        engine: Engine,
        template: Template,
        slack: WebClient,
        clock: Clock,
        nudge_policy: schedules.NudgePolicy,
        later: Later = run_soon,
    ) -> None:
        self.engine = engine
        self.template = template
        self.slack = slack
        self.clock = clock
        self.nudge_policy = nudge_policy
        self.later = later  # runs a paced redraw when its interval is up
        self._repair_after = 0  # where the last bounded repair pass stopped
        # Slack failures seen so far that say Slack itself is down, not that it refused one call:
        # the repair pass stops at one, instead of trying every project against an outage.
        self._outages = 0

    # --- a project's thread -----------------------------------------------------------------

    def open_thread(self, project_id: int, *, on_failure: Callable[[Session], None]) -> str | None:
        """Post a new project's (or cycle's) parent message and its open phase in the thread.
        Returns a reply for the user when Slack refused; `on_failure` then undoes the start."""
        with session_scope(self.engine, read_only=True) as session:
            project = must_get(session, project_id)
            view = project_view(session, project, self.template, self.clock())
            parent = render.parent_message(self.template, view)
        place = PostPlace(project.channel_id, None, PARENT_EVENT, "project_id", project_id)
        outcome = self.post_once(place, parent, read_back_first=False)
        if outcome.unknown:
            # Slack may store it yet: the start stays half-made until a later start adopts it.
            return SLOW_START
        if outcome.ts is None:
            with session_scope(self.engine) as session:
                on_failure(session)  # leave nothing half-made
            return _cannot_post_reply(outcome.reason)

        self.finish_thread(project_id, outcome.ts)
        return None

    def recover_abandoned_start(self, team_id: str, channel_id: str) -> str | None:
        """A start whose worker died mid-way: adopt its parent message if Slack has it, else
        clear the row so this start can take its place. Returns, for the user, why neither
        could be done when Slack would not show the channel."""
        with session_scope(self.engine) as session:
            project = queries.get_open_project(session, team_id, channel_id)
            if (
                project is None
                or project.status != ProjectStatus.STARTING
                or project.started_at >= self.clock() - CLAIM_TIMEOUT
            ):
                return None
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
        except SLACK_FAILURES as error:
            log.warning("cannot read back the channel for project %s: %s", project_id, reason_of(error))
            # Try again with the next start; never risk a second parent message.
            return _ABANDONED_UNREADABLE.format(reason=reason_of(error))
        if ts is None:
            with session_scope(self.engine) as session:
                queries.delete_project(session, project_id)
            return None
        self.finish_thread(project_id, ts, adopted=True)
        return None

    def finish_thread(self, project_id: int, ts: str, *, adopted: bool = False) -> None:
        """Record the posted parent message, activate the project and post its open phase.
        An `adopted` parent (posted by a worker that died) is redrawn from the database."""
        with session_scope(self.engine, read_only=True) as session:
            channel_id = must_get(session, project_id).channel_id
        permalink = self._permalink(channel_id, ts)
        with session_scope(self.engine) as session:
            project = must_get(session, project_id)
            queries.add_message(session, project, kind=MessageKind.PARENT, ts=ts)
            if adopted:
                project.version += 1
                queries.mark_messages_stale(session, project, kinds_and_phases=[(MessageKind.PARENT, 0)])
            queries.activate_project(session, project, permalink=permalink)
            carried = project.bars_committed_at and queries.current_bars(session, project_id)
            if carried:  # a new cycle shows the committed bars it starts from
                bars_phase = render.bars_phase(self.template) or 0
                queries.add_message(session, project, kind=MessageKind.BARS, phase_number=bars_phase)
            queries.add_message(session, project, kind=MessageKind.PHASE, phase_number=project.current_phase)
            schedules.on_progress(session, project, self.clock(), self.nudge_policy)
        self.sync(project_id)

    def _permalink(self, channel_id: str, ts: str) -> str | None:
        try:
            return str(self.slack.chat_getPermalink(channel=channel_id, message_ts=ts)["permalink"])
        except (*SLACK_FAILURES, KeyError):
            log.warning("no permalink for %s/%s; status will point to the channel", channel_id, ts)
            return None

    # --- posts and redraws ------------------------------------------------------------------

    def sync(self, project_id: int) -> bool:
        """Post what is unposted and redraw what is stale, in thread order. Returns False when
        Slack failed and the thread is behind the database (the repair pass catches up)."""
        with session_scope(self.engine, read_only=True) as session:
            pending = sorted(queries.list_messages(session, project_id), key=_thread_order)
        caught_up = True
        outages = self._outages
        for message in pending:
            if self._outages != outages:
                return False  # Slack is down: the rest would only fail too, and slowly
            if _refused_as_drawn(message):
                continue  # Slack refused exactly this content for good; `/distill status` says so
            if message.ts is None:
                progress = self._post(message)
                if progress is Progress.REFUSED:
                    continue  # refused for good, and recorded: the rest of the thread goes on
                if progress is not Progress.DONE:
                    caught_up = caught_up and progress is Progress.CLAIMED_ELSEWHERE
                    break  # not posted *yet*: keep the thread in order, later messages wait
            elif message.rendered_version < message.wanted_version:
                caught_up = self._redraw(message.id or 0) and caught_up
            if message.ts is not None and message.check_after is not None:
                caught_up = self._count_copies(message) and caught_up
        return caught_up

    def catch_up(self, project_id: int) -> bool:
        """`sync` after a move that is already committed: whatever fails now, the move stands
        and the repair pass catches the thread up, so the user is told so, never "nothing changed"."""
        try:
            return self.sync(project_id)
        except Exception:
            log.exception("syncing project %s after a committed move failed", project_id)
            return False

    def release_redraw_claims(self) -> None:
        """At start-up: a process that died while holding a redraw claim would otherwise keep
        that message from being redrawn until the claim runs out. Releasing a live replica's
        claim costs at most one extra chat.update: `record_redrawn` notices the takeover and
        the message is drawn again, ending at what is stored."""
        with session_scope(self.engine) as session:
            released = queries.release_all_redraw_claims(session)
        if released:
            log.info("released %s redraw claim(s) left by an earlier run", released)

    def repair(
        self, budget_seconds: float = REPAIR_SECONDS, *, wait_turn: Callable[[], None] = lambda: None
    ) -> int:
        """One pass of the scheduler's beat: sync the projects whose messages Slack does not
        show as stored (a restart, a Slack outage, clicks past a full background pool), batch
        by batch, each at most once, for at most `budget_seconds`; the next pass takes up where
        this one stopped. One indexed query when nothing is behind. Returns how many it synced.
        `wait_turn` before each project: acks go first (RequestsFirst)."""
        deadline = time.monotonic() + budget_seconds
        start = after = self._repair_after
        wrapped, synced = False, 0
        while time.monotonic() < deadline:
            with session_scope(self.engine, read_only=True) as session:
                project_ids = queries.unsettled_project_ids(session, after=after, limit=REPAIR_BATCH)
            if wrapped:
                project_ids = [project_id for project_id in project_ids if project_id <= start]
            if not project_ids:
                if wrapped or start == 0:
                    after = 0  # every project behind has had its turn
                    break
                after, wrapped = 0, True  # from the first project up to where this pass began
                continue
            for project_id in project_ids:
                wait_turn()
                outages = self._outages
                try:
                    self.sync(project_id)
                except Exception:
                    log.exception("repairing project %s failed; the next pass retries", project_id)
                synced += 1
                if self._outages != outages:
                    log.warning("Slack is failing; the repair pass stops and the next beat goes on from here")
                    self._repair_after = project_id - 1
                    return synced
                after = project_id
        self._repair_after = after
        return synced

    def post_once(self, place: PostPlace, content: render.Message, *, read_back_first: bool) -> PostOutcome:
        """The one way the bot posts. Slack has no idempotency key, so a post whose answer never
        came is never sent again blind: with `read_back_first` (an earlier attempt may have
        reached Slack) the thread is read back, and a copy found there is kept instead."""
        if read_back_first and place.thread_ts is not None:
            try:
                found = self.keep_one_copy(place)
            except ReadBackError as error:  # nobody can tell whether an earlier attempt posted
                return PostOutcome(unknown=error.reason, cannot_read=True)
            except SLACK_FAILURES as error:
                self._note_outage(error)
                return PostOutcome(unknown=reason_of(error))  # cannot tell: posting could double
            if found is not None:
                return PostOutcome(ts=found, adopted=True)
        try:
            response = self.slack.chat_postMessage(
                channel=place.channel_id,
                thread_ts=place.thread_ts,
                text=content.text,
                blocks=content.blocks,
                metadata=place.metadata,
                unfurl_links=False,
            )
        except SlackApiError as error:
            self._note_outage(error)
            if error.response.status_code >= 500 or reason_of(error) in MAY_HAVE_STORED:
                return PostOutcome(unknown=reason_of(error))  # Slack broke mid-way: it may have stored it
            return PostOutcome(refused=reason_of(error))
        except SLACK_FAILURES as error:
            self._note_outage(error)
            return PostOutcome(unknown=reason_of(error))
        return PostOutcome(ts=str(response["ts"]))

    def keep_one_copy(self, place: PostPlace) -> str | None:
        """Read the thread back for the post's copies; keep the oldest, delete the bot's own
        newer ones, and return the one kept (None: Slack holds none). Raises SLACK_FAILURES."""
        thread_ts = place.thread_ts
        assert thread_ts is not None

        def read_back() -> list[str]:
            return find_in_thread(
                self.slack, place.channel_id, thread_ts, place.event_type, place.key, place.ref
            )

        try:
            copies = read_back()
        except ReadBackError as error:
            # Removed from a public channel it still has a project in: join again (as at the
            # start) and read once more. In a private channel the join changes nothing.
            if error.reason != "not_in_channel" or membership.join(self.slack, place.channel_id):
                raise
            log.info("joined channel %s again to read its thread back", place.channel_id)
            copies = read_back()
        if not copies:
            return None
        kept, *extra = sorted(copies, key=Decimal)
        for ts in extra:
            log.warning("deleting a second copy of %s %s=%s", place.event_type, place.key, place.ref)
            try:
                self.slack.chat_delete(channel=place.channel_id, ts=ts)
            except SlackApiError as error:
                if reason_of(error) != "message_not_found":  # gone already is what we wanted
                    raise
        return kept

    def _place(self, session: Session, message: PostedMessage, project: Project) -> PostPlace:
        thread_ts = queries.get_thread_ts(session, message.project_id)
        return PostPlace(project.channel_id, thread_ts, MESSAGE_EVENT, "message_id", message.id or 0)

    def _post(self, message: PostedMessage) -> Progress:
        message_id = message.id or 0
        with session_scope(self.engine) as session:
            attempt = queries.claim_message(session, message_id, now=self.clock(), stale_after=CLAIM_TIMEOUT)
        if attempt is None:
            settling = message.check_after is not None and message.check_after > self.clock()
            return Progress.BEHIND if settling else Progress.CLAIMED_ELSEWHERE
        with session_scope(self.engine, read_only=True) as session:
            project = must_get(session, message.project_id)  # read once: place and content
            place = self._place(session, message, project)
            wanted = must_get_message(session, message_id).wanted_version
            content = self._render(session, message, project)
        outcome = self.post_once(place, content, read_back_first=attempt > 1)
        if outcome.ts is None:
            log.warning(
                "could not post %s message of project %s: %s",
                message.kind,
                message.project_id,
                outcome.reason,
            )
            with session_scope(self.engine) as session:
                settle = self.clock() + SETTLE if outcome.unknown else None
                queries.release_message(session, message_id, check_after=settle)
            if outcome.refused and self._note_refusal(message_id, outcome.refused, version=wanted):
                return Progress.REFUSED
            return Progress.BEHIND
        with session_scope(self.engine) as session:
            # Past the first attempt a late copy may still land: count the copies once more later.
            recount = self.clock() + SETTLE if attempt > 1 else None
            # An adopted post shows what was drawn back then: it counts as behind, to be redrawn.
            shown = -1 if outcome.adopted else wanted
            if not queries.record_posted(
                session, message_id, attempt=attempt, ts=outcome.ts, version=shown, check_after=recount
            ):
                # This post took longer than its claim: a later attempt took over and may have
                # posted too. Its record stands; the copies are counted once Slack has settled.
                log.warning("a post of message %s landed after its claim ran out", message_id)
                queries.recount_copies(session, message_id, after=self.clock() + SETTLE)
                return Progress.DONE
            stale = must_get_message(session, message_id).wanted_version > shown
        if stale:
            self._redraw(message_id)
        return Progress.DONE

    def _count_copies(self, message: PostedMessage) -> bool:
        """Once Slack has settled, make sure the thread holds a posted message exactly once."""
        if message.check_after is None or message.check_after > self.clock():
            return True  # not yet: nothing has failed
        with session_scope(self.engine, read_only=True) as session:
            place = self._place(session, message, must_get(session, message.project_id))
        try:
            kept = self.keep_one_copy(place)
        except SLACK_FAILURES as error:
            self._note_outage(error)
            log.warning("could not read back project %s: %s", message.project_id, reason_of(error))
            return False
        with session_scope(self.engine) as session:
            queries.record_checked(session, message.id or 0, ts=kept or message.ts or "")
        if kept is not None and kept != message.ts:
            return self._redraw(message.id or 0)
        return True

    def _redraw(self, message_id: int) -> bool:
        """Bring a posted message up to the database, at most once a second (see REDRAW_INTERVAL).

        One worker at a time holds a message's redraw claim; the others leave the change to it.
        It draws at once if the message was last drawn long enough ago, or later if not, and
        after each draw checks whether the database moved on meanwhile: a burst of ticks
        becomes one redraw now and one when the interval is up, ending at what is stored.
        Returns False when Slack failed just now (the message stays behind for the repair pass)."""
        now = self.clock()
        with session_scope(self.engine) as session:
            message = queries.claim_redraw(session, message_id, now=now, stale_after=CLAIM_TIMEOUT)
        if message is None:
            return True  # up to date, or another worker holds it and redraws again when it is done
        wait = (message.drawn_at + REDRAW_INTERVAL - now).total_seconds() if message.drawn_at else 0.0
        if wait > 0:

            def draw_when_due() -> None:
                self._draw_claimed(message_id, now)

            self.later(wait, draw_when_due)
            return True
        return self._draw_claimed(message_id, now)

    def _draw_claimed(self, message_id: int, claimed_at: datetime) -> bool:
        try:
            version = self._draw(message_id)
        except BaseException:
            self._release_redraw(message_id, claimed_at)
            raise
        if version is None:  # still behind the database: the next change or repair redraws it
            self._release_redraw(message_id, claimed_at)
            return False
        with session_scope(self.engine) as session:
            behind = queries.record_redrawn(
                session, message_id, version=version, drawn_at=self.clock(), claimed_at=claimed_at
            )
        return self._redraw(message_id) if behind else True

    def _draw(self, message_id: int) -> int | None:
        """Send Slack the message as stored; returns the version drawn, None when Slack refused."""
        with session_scope(self.engine, read_only=True) as session:
            message = must_get_message(session, message_id)
            wanted = message.wanted_version
            project = must_get(session, message.project_id)  # read once: channel and content
            channel_id = project.channel_id
            content = self._render(session, message, project)
        assert message.ts is not None  # only posted messages are claimed for redraws
        try:
            self.slack.chat_update(
                channel=channel_id, ts=message.ts, text=content.text, blocks=content.blocks
            )
        except SLACK_FAILURES as error:
            self._note_outage(error)
            log.warning("could not update message of project %s: %s", message.project_id, reason_of(error))
            self._note_refusal(message_id, reason_of(error), version=wanted)
            return None
        return wanted

    def _note_outage(self, error: Exception) -> None:
        if is_outage(error):
            self._outages += 1  # unlocked: the repair pass only asks whether it moved

    def _release_redraw(self, message_id: int, claimed_at: datetime) -> None:
        with session_scope(self.engine) as session:
            queries.release_redraw(session, message_id, claimed_at=claimed_at)

    def _note_refusal(self, message_id: int, reason: str, *, version: int) -> bool:
        """Remember a refusal no retry of the same content fixes, so that it blocks nothing.
        Returns whether it was one."""
        if reason not in PERMANENT_REFUSALS:
            return False
        with session_scope(self.engine) as session:
            queries.record_refused(session, message_id, reason=reason, version=version)
        return True

    def _render(self, session: Session, message: PostedMessage, project: Project) -> render.Message:
        # Notices and evaluation tables are drawn from their own rows: no project view needed.
        if message.kind == MessageKind.NOTICE:
            return render.notice_message(message.notice_text or "")
        if message.kind == MessageKind.EVALUATION:
            bars, evaluation = evaluation_and_bars(session, message.subject_id)
            return render.evaluation_message(bars, evaluation)
        view = project_view(session, project, self.template, self.clock())
        if message.kind == MessageKind.PARENT:
            return render.parent_message(self.template, view)
        if message.kind == MessageKind.PHASE:
            return render.phase_message(self.template, view, message.phase_number)
        if message.kind == MessageKind.BARS:
            return render.bars_message(view)
        return render.phase_done_message(self.template, view, message.phase_number)


def _refused_as_drawn(message: PostedMessage) -> bool:
    return message.refused_version is not None and message.refused_version >= message.wanted_version


_REFUSED_WHAT = {
    MessageKind.PARENT: "the project's parent message",
    MessageKind.PHASE: "Phase {n}'s checklist",
    MessageKind.PHASE_DONE: 'the "Phase {n} complete" notice',
    MessageKind.BARS: "the committed success bars",
    MessageKind.EVALUATION: "an evaluation's table",
    MessageKind.NOTICE: "a notice",
}


def refusal_notes(messages: list[PostedMessage]) -> list[str]:
    """For `/distill status`: each message Slack refused for good, and what to do about it."""
    notes = []
    for message in sorted(messages, key=_thread_order):
        if message.refused_reason is None:
            continue
        what = _REFUSED_WHAT.get(message.kind, "a message").format(n=message.phase_number)
        shown = "shows an older version of it" if message.ts else "does not show it"
        notes.append(
            f":warning: Slack refused {what} (`{message.refused_reason}`), so the thread {shown}; "
            "the rest of the thread goes on, and the checklist's state here is the true one. "
            "It is sent again as soon as what it shows changes (for the bars: an owner amends them "
            "with shorter names). If it keeps failing, ask whoever runs Distill Bot to check its log."
        )
    return notes


# Within a phase: its message, the evaluations recorded while it was open, its "complete"
# notice, then (for the bars phase) the committed bars, then notices of moves made while it
# was the current phase, in the order they were made.
_KIND_ORDER = {
    MessageKind.PARENT: 0,
    MessageKind.PHASE: 1,
    MessageKind.EVALUATION: 2,
    MessageKind.PHASE_DONE: 3,
    MessageKind.BARS: 4,
    MessageKind.NOTICE: 5,
}


def _thread_order(message: PostedMessage) -> tuple[int, int, int]:
    return (message.phase_number, _KIND_ORDER.get(message.kind, 4), message.subject_id)


# Slack's errors that answer HTTP 200 yet say "it's possible some aspect of the operation
# succeeded before the error was raised" (its docs): a post answered so may be stored.
MAY_HAVE_STORED = frozenset({"internal_error", "fatal_error"})


def is_outage(error: Exception) -> bool:
    """Slack itself failing (a 5xx, rate limits past the client's retries, no answer at all),
    as opposed to Slack refusing this one call."""
    if isinstance(error, SlackApiError):
        return error.response.status_code >= 500 or error.response.status_code == 429
    return not isinstance(error, ReadBackError)


def reason_of(error: Exception) -> str:
    """Slack's error code, or the kind of transport failure; never the request or the token."""
    if isinstance(error, ReadBackError):
        return error.reason
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown_error"))
    return type(error).__name__


def _cannot_post_reply(reason: str) -> str:
    return _CANNOT_POST.get(
        reason, f"Slack did not accept the checklist ({reason}); nothing was created. Try again in a minute."
    )
