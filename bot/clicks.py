"""Checkbox clicks: stored as they came before their ack, applied by the gate after it.

Storing the raw click is all a click's ack waits for: one insert, shared with the clicks
arriving with it (GroupCommit). After the ack, a background job applies the project's waiting
clicks in the order they came, holding the project's lock, a few to a transaction (the gate's
decision is `Workflow.decide_click`), then brings Slack's messages up to date. Clicks no job
took (a full pool, a restart) are applied by the scheduler's beat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot.core.clock import Clock
from bot.rendering.ids import ItemRef
from bot.rendering.mrkdwn import cut
from bot.slack_sync import REPAIR_SECONDS, saved_but_behind
from bot.workflow import ItemClick, Workflow
from storage import queries
from storage.engine import session_scope
from storage.group_commit import GroupCommit
from storage.models import CLICK_REPLY_MAX, Project, ReceivedClick

log = logging.getLogger(__name__)

# A click is stored before its ack and Slack waits 3 seconds for the ack: wait at most this long
# for the database's lock, then say so rather than let Slack time out.
CLICK_LOCK_WAIT_MS = 2_000
DATABASE_BUSY = (
    "The checklist's database is busy, so your click was not saved. Please click again in a moment."
)


# Clicks one transaction applies. On SQLite the transaction holds the database's only write lock,
# and every ack storing a click waits for it: a backlog is applied a few clicks at a time.
CLICKS_PER_TRANSACTION = 2
# How long an applied click keeps its reply for the worker that answers the clicker.
APPLIED_CLICKS_KEPT = timedelta(hours=1)
# Projects whose waiting clicks one beat applies (they wait only when no worker took them).
WAITING_CLICKS_PER_BEAT = 500
CLICK_FAILED = "Something went wrong on my side and your click was not applied. Please click again."


@dataclass(frozen=True)
class StoredClick:
    """A click stored before its ack (`click_id`), or not stored at all (None: the database was busy)."""

    click_id: int | None
    project_id: int
    saved: str  # what the user did ("tick", "untick"), for "Your tick is saved; ..."

    @property
    def busy_reply(self) -> str | None:
        """What to tell the user when no worker is free to apply the click now: that it was not
        saved, if so. A stored click is applied by the beat, and the clicker's checkbox already
        shows it: a reply to every click of a burst would be noise when the bot is busiest."""
        return DATABASE_BUSY if self.click_id is None else None


class ClickInbox:
    """Checkbox clicks, from the ack that stores them to the gate that applies them."""

    def __init__(
        self,
        engine: Engine,
        workflow: Workflow,
        clock: Clock,
        *,
        wait_turn: Callable[[], None] = lambda: None,
    ) -> None:
        """`wait_turn` before each batch of clicks after a project's first, and before each
        project of the beat: acks go first (RequestsFirst)."""
        self.engine = engine
        self.workflow = workflow
        self.clock = clock
        self.wait_turn = wait_turn
        # Clicks arriving together are stored in one transaction (their acks wait for it).
        self._received: GroupCommit[dict[str, object], int] = GroupCommit(
            engine, queries.receive_clicks, lock_wait_ms=CLICK_LOCK_WAIT_MS
        )

    def close(self) -> None:
        """Once requests have stopped: close the connections clicks are stored with."""
        self._received.close()

    def toggle(self, click: ItemClick) -> str | None:
        """Apply one checkbox click; returns an explanation for the user when it changes nothing."""
        return self.apply(self.store(click))

    def store(self, click: ItemClick) -> StoredClick:
        """Store the click as it came (in one transaction with the clicks arriving with it), with
        no Slack call, so that the listener can store it before its ack: an acknowledged click is
        a stored click. The gate decides about it after the ack (`apply`)."""
        saved = "tick" if click.selected else "untick"
        try:
            click_id = self._received.store(
                {
                    "project_id": click.ref.project_id,
                    "phase_number": click.ref.phase_number,
                    "item_key": click.ref.item_key,
                    "seen_version": click.ref.version,
                    "selected": click.selected,
                    "team_id": click.team_id,
                    "channel_id": click.channel_id,
                    "user_id": click.user_id,
                    "received_at": self.clock(),
                }
            )
        except OperationalError as error:  # locked for longer than Slack waits, or unreachable
            log.warning("click not stored, database busy: %s", type(error.orig).__name__)
            return StoredClick(None, click.ref.project_id, saved)
        return StoredClick(click_id, click.ref.project_id, saved)

    def apply(self, stored: StoredClick) -> str | None:
        """After the ack: apply the click (after any of its project's clicks received before
        it), then make Slack's messages match. Returns what to tell the clicker."""
        if stored.click_id is None:
            return DATABASE_BUSY
        try:
            exists, reply = self.apply_waiting(stored.project_id, answer_for=stored.click_id)
        except OperationalError as error:  # stored all the same: the beat applies it
            log.warning(
                "click %s not applied yet, database busy: %s", stored.click_id, type(error.orig).__name__
            )
            return f"Your {stored.saved} is saved; the thread will catch up in a moment."
        if exists and not self.workflow.slack_sync.catch_up(stored.project_id):
            return reply or saved_but_behind(stored.saved)
        return reply

    def apply_waiting(self, project_id: int, *, answer_for: int | None = None) -> tuple[bool, str | None]:
        """Apply the project's waiting clicks in the order they came, holding the project's lock,
        `CLICKS_PER_TRANSACTION` to a transaction, acks going first between them; returns whether
        the project exists, and the reply to click `answer_for` (applied now, or already by
        another worker or replica)."""
        answered, answer = False, None
        while True:
            with session_scope(self.engine) as session:
                project = queries.get_project(session, project_id, for_update=True)
                waiting = queries.waiting_clicks(session, project_id, limit=CLICKS_PER_TRANSACTION)
                now = self.clock()
                for received in waiting:
                    reply = self._apply_received(session, project, received)
                    # Cut to fit its column: a reply the database refused would fail the batch, and
                    # the project's later clicks with it, on every retry.
                    received.reply = None if reply is None else cut(reply, CLICK_REPLY_MAX)
                    received.applied_at = now
                    session.add(received)
                    if received.id == answer_for:
                        answered, answer = True, received.reply
                last_batch = len(waiting) < CLICKS_PER_TRANSACTION
                if last_batch and not answered and answer_for is not None:
                    answer = queries.click_reply(session, answer_for)[1]
            if last_batch:
                return project is not None, answer
            self.wait_turn()

    def apply_left_waiting(self, budget_seconds: float = REPAIR_SECONDS) -> int:
        """The beat: apply the clicks no worker applied (a full pool, a restart), for at most
        `budget_seconds` (the next beat goes on), and forget the replies of clicks applied long
        ago. Returns how many projects it went through."""
        deadline = time.monotonic() + budget_seconds
        with session_scope(self.engine, read_only=True) as session:
            project_ids = queries.projects_with_waiting_clicks(session, limit=WAITING_CLICKS_PER_BEAT)
        applied = 0
        for project_id in project_ids:
            self.wait_turn()
            if time.monotonic() >= deadline:
                break
            try:
                self.apply_waiting(project_id)
            except OperationalError:
                log.warning("applying project %s's waiting clicks failed; the next beat retries", project_id)
            except Exception:  # a bug: it must not keep the beat from the other projects
                log.exception("applying project %s's waiting clicks failed", project_id)
            applied += 1
        with session_scope(self.engine) as session:
            queries.forget_applied_clicks(session, applied_before=self.clock() - APPLIED_CLICKS_KEPT)
        return applied

    def _apply_received(
        self, session: Session, project: Project | None, received: ReceivedClick
    ) -> str | None:
        click = ItemClick(
            team_id=received.team_id,
            channel_id=received.channel_id,
            user_id=received.user_id,
            ref=ItemRef(received.project_id, received.phase_number, received.item_key, received.seen_version),
            selected=received.selected,
        )
        try:
            # A savepoint per click: one that fails (a bug) must not hold back the project's
            # later clicks, nor be retried on every beat.
            with session.begin_nested():
                return self.workflow.decide_click(session, project, click)
        except OperationalError:
            raise  # the database, not this click: the whole batch is retried
        except Exception:
            log.exception("applying a click on project %s failed", received.project_id)
            return CLICK_FAILED
