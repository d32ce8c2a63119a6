"""Keeping Slack's messages in step with the database.

Domain moves (the workflow, governance, nudge answers) change stored state in one
transaction and mark the messages they touched; this module then makes Slack match: it
claims and posts messages not yet in the thread, redraws stale ones, and reads the thread
back when a worker that died may already have posted. Every message is rendered from the
database, so Slack converges to what is stored whatever order requests arrive in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlmodel import Session

from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.core.later import Later, run_soon
from bot.nudges import schedules
from bot.project_state import must_get, must_get_message, project_view
from bot.readback import ReadBackError, find_in_channel, find_in_thread
from bot.rendering import messages as render
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind, PostedMessage, ProjectStatus

log = logging.getLogger(__name__)

# A worker that claimed a message and died is presumed gone after this long.
CLAIM_TIMEOUT = timedelta(minutes=2)
# Metadata event types on the bot's posts, so a retry can find a post it never heard back about.
MESSAGE_EVENT = "distill_message"
PARENT_EVENT = "distill_parent"
# Slack's chat.update is Tier 3 (about 50 a minute per workspace): a burst of ticks on one
# message is drawn at once and then at most once per interval, ending at what is stored.
REDRAW_INTERVAL = timedelta(seconds=1)

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

    # --- a project's thread -----------------------------------------------------------------

    def open_thread(self, project_id: int, *, on_failure: Callable[[Session], None]) -> str | None:
        """Post a new project's (or cycle's) parent message and its open phase in the thread.
        Returns a reply for the user when Slack refused; `on_failure` then undoes the start."""
        with session_scope(self.engine) as session:
            project = must_get(session, project_id)
            view = project_view(session, project, self.template, self.clock())
            parent = render.parent_message(self.template, view)
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

        self.finish_thread(project_id, str(response["ts"]))
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
        except SlackClientError as error:
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
        with session_scope(self.engine) as session:
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
        except (SlackClientError, KeyError):
            log.warning("no permalink for %s/%s; status will point to the channel", channel_id, ts)
            return None

    # --- posts and redraws ------------------------------------------------------------------

    def sync(self, project_id: int) -> None:
        """Post what is unposted and redraw what is stale, in thread order."""
        with session_scope(self.engine) as session:
            pending = sorted(queries.list_messages(session, project_id), key=_thread_order)
        for message in pending:
            if _refused_as_drawn(message):
                continue  # Slack refused exactly this content for good; `/distill status` says so
            if message.ts is None:
                if not self._post(message) and not self._refused_now(message.id or 0):
                    break  # not posted *yet*: keep the thread in order, later messages wait
            elif message.rendered_version < message.wanted_version:
                self._redraw(message.id or 0)

    def release_redraw_claims(self) -> None:
        """At start-up: a process that died while holding a redraw claim would otherwise keep
        that message from being redrawn until the claim runs out. Releasing a live replica's
        claim costs at most one extra chat.update: `record_redrawn` notices the takeover and
        the message is drawn again, ending at what is stored."""
        with session_scope(self.engine) as session:
            released = queries.release_all_redraw_claims(session)
        if released:
            log.info("released %s redraw claim(s) left by an earlier run", released)

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
            project = must_get(session, message.project_id)
            thread_ts = queries.get_thread_ts(session, message.project_id)
            wanted = must_get_message(session, message_id).wanted_version
            content = self._render(session, message)
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
                "could not post %s message of project %s: %s", message.kind, project.id, reason_of(error)
            )
            with session_scope(self.engine) as session:
                queries.release_message(session, message_id)
            self._note_refusal(message_id, error, version=wanted)
            return False
        with session_scope(self.engine) as session:
            queries.record_posted(session, message_id, ts=ts, version=wanted)
            stale = must_get_message(session, message_id).wanted_version > wanted
        if stale or attempt > 1:
            self._redraw(message_id)  # an adopted post shows what was drawn back then
        return True

    def _redraw(self, message_id: int) -> None:
        """Bring a posted message up to the database, at most once a second (see REDRAW_INTERVAL).

        One worker at a time holds a message's redraw claim; the others leave the change to it.
        It draws at once if the message was last drawn long enough ago, or later if not, and
        after each draw checks whether the database moved on meanwhile: a burst of ticks
        becomes one redraw now and one when the interval is up, ending at what is stored."""
        now = self.clock()
        with session_scope(self.engine) as session:
            message = queries.claim_redraw(session, message_id, now=now, stale_after=CLAIM_TIMEOUT)
        if message is None:
            return  # up to date, or another worker holds it and redraws again when it is done
        wait = (message.drawn_at + REDRAW_INTERVAL - now).total_seconds() if message.drawn_at else 0.0
        if wait > 0:
            self.later(wait, lambda: self._draw_claimed(message_id, now))
        else:
            self._draw_claimed(message_id, now)

    def _draw_claimed(self, message_id: int, claimed_at: datetime) -> None:
        try:
            version = self._draw(message_id)
        except BaseException:
            self._release_redraw(message_id, claimed_at)
            raise
        if version is None:  # still behind the database: the next change or repair redraws it
            self._release_redraw(message_id, claimed_at)
            return
        with session_scope(self.engine) as session:
            behind = queries.record_redrawn(
                session, message_id, version=version, drawn_at=self.clock(), claimed_at=claimed_at
            )
        if behind:
            self._redraw(message_id)

    def _draw(self, message_id: int) -> int | None:
        """Send Slack the message as stored; returns the version drawn, None when Slack refused."""
        with session_scope(self.engine) as session:
            message = must_get_message(session, message_id)
            wanted = message.wanted_version
            channel_id = must_get(session, message.project_id).channel_id
            content = self._render(session, message)
        assert message.ts is not None  # only posted messages are claimed for redraws
        try:
            self.slack.chat_update(
                channel=channel_id, ts=message.ts, text=content.text, blocks=content.blocks
            )
        except SlackClientError as error:
            log.warning("could not update message of project %s: %s", message.project_id, reason_of(error))
            self._note_refusal(message_id, error, version=wanted)
            return None
        return wanted

    def _release_redraw(self, message_id: int, claimed_at: datetime) -> None:
        with session_scope(self.engine) as session:
            queries.release_redraw(session, message_id, claimed_at=claimed_at)

    def _note_refusal(self, message_id: int, error: SlackClientError, *, version: int) -> None:
        """Remember a refusal no retry of the same content fixes, so that it blocks nothing."""
        reason = reason_of(error)
        if reason in PERMANENT_REFUSALS:
            with session_scope(self.engine) as session:
                queries.record_refused(session, message_id, reason=reason, version=version)

    def _refused_now(self, message_id: int) -> bool:
        with session_scope(self.engine) as session:
            return _refused_as_drawn(must_get_message(session, message_id))

    def _render(self, session: Session, message: PostedMessage) -> render.Message:
        project = must_get(session, message.project_id)
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


_KIND_ORDER = {MessageKind.PARENT: 0, MessageKind.PHASE: 1, MessageKind.PHASE_DONE: 2, MessageKind.BARS: 3}


def _thread_order(message: PostedMessage) -> tuple[int, int]:
    return (message.phase_number, _KIND_ORDER.get(message.kind, 3))


def reason_of(error: SlackClientError) -> str:
    """Slack's error code, or the kind of transport failure; never the request or the token."""
    if isinstance(error, ReadBackError):
        return error.reason
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown_error"))
    return type(error).__name__


def _cannot_post_reply(error: SlackClientError) -> str:
    reason = reason_of(error)
    return _CANNOT_POST.get(
        reason, f"Slack did not accept the checklist ({reason}); nothing was created. Try again in a minute."
    )
