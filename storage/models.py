"""The tables. State that changes (ticks) lives in rows, never inside JSON columns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable)


def _project_fk() -> Column:  # type: ignore[type-arg]
    return Column(Integer, ForeignKey("project.id", ondelete="CASCADE"), nullable=False, index=True)


class ProjectStatus:
    STARTING = "starting"  # row claimed, parent message not posted yet
    ACTIVE = "active"
    SHIPPED = "shipped"
    STOPPED = "stopped"  # ended by an owner (`/distill stop`); closed_at frees the channel


class Outcome:
    """How a stopped project ended."""

    WIN = "win"  # Phase 1: a cheaper option cleared the targets ("a win, not a failure")
    STOPPED = "stopped"  # stopped for another reason, given by the owner


class Project(SQLModel, table=True):
    """One distillation project, run in one Slack channel."""

    __table_args__ = (
        # At most one open project per channel, whoever races to start it.
        Index(
            "uq_project_open_channel",
            "team_id",
            "channel_id",
            unique=True,
            sqlite_where=text("closed_at IS NULL"),
            postgresql_where=text("closed_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    name: str = Field(max_length=80)
    checklist: str = Field(max_length=40)
    started_by: str = Field(max_length=32)
    started_at: datetime = Field(sa_column=_utc())
    status: str = Field(default=ProjectStatus.STARTING, max_length=16)
    current_phase: int = 1
    # Bumped by every change; rendered into block ids so clients redraw, and so a click
    # tells which state its client was showing.
    version: int = 0
    permalink: str | None = Field(default=None, max_length=500)
    shipped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Re-distillation opens a new cycle: a new row in the same channel, the old one closed.
    cycle: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    previous_project_id: int | None = Field(
        default=None,
        sa_column=Column(Integer, ForeignKey("project.id", name="fk_project_previous_project_id")),
    )
    # IANA name; None means the workspace default (settings).
    timezone: str | None = Field(default=None, max_length=64)
    # The last tick, untick or phase change: stall reminders count from here.
    last_activity_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Set when Slack refuses the project's nudges for good (archived channel, bot removed).
    nudges_paused_reason: str | None = Field(default=None, max_length=200)
    # When Phase 2 passed, freezing the success bars then in force.
    bars_committed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    bars_committed_by: str | None = Field(default=None, max_length=32)
    # Set by `/distill stop`; the project is then closed and read-only.
    stopped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    stopped_by: str | None = Field(default=None, max_length=32)
    outcome: str | None = Field(default=None, max_length=16)
    outcome_reason: str | None = Field(default=None, max_length=500)
    # `/distill rollout`: shadow, 5, 25 or 100 (percent of traffic), and since when.
    rollout_stage: str | None = Field(default=None, max_length=8)
    rollout_since: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Reopening a phase voids the evidence recorded for it until then: rows with ids up to
    # these no longer count (success bars, evaluations, rollout-stage events).
    bars_void_through: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    evaluations_void_through: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    rollout_void_through: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class Tick(SQLModel, table=True):
    """An item that is ticked now. Unticking deletes the row; the history is in TickEvent."""

    __table_args__ = (UniqueConstraint("project_id", "item_key", name="uq_tick_project_item"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    item_key: str = Field(max_length=40)
    phase_number: int
    ticked_by: str = Field(max_length=32)
    ticked_at: datetime = Field(sa_column=_utc())
    version: int  # the project version this tick created


class TickEvent(SQLModel, table=True):
    """Append-only record of every tick and untick: who, when, what."""

    __tablename__ = "tick_event"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    item_key: str = Field(max_length=40)
    phase_number: int
    action: str = Field(max_length=8)  # "tick" or "untick"
    user_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=_utc())
    version: int


# The longest answer to a click that is kept for its clicker (characters, as sent to Slack).
CLICK_REPLY_MAX = 3000


class ReceivedClick(SQLModel, table=True):
    """A checkbox click as Slack delivered it, stored before its ack and applied after it.

    Storing the raw click is one insert, so the ack never waits on the gate's reads and
    writes; the gate then applies a project's waiting clicks in the order they came, in one
    transaction that also sets `applied_at` and what to tell the clicker. No foreign key:
    a click on a project that no longer exists is stored all the same, and answered so."""

    __tablename__ = "received_click"
    __table_args__ = (Index("ix_received_click_waiting", "applied_at", "project_id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(index=True)
    phase_number: int
    item_key: str = Field(max_length=40)
    seen_version: int  # the project version the clicked message was drawn at
    selected: bool
    team_id: str = Field(max_length=32)
    channel_id: str = Field(max_length=32)
    user_id: str = Field(max_length=32)
    received_at: datetime = Field(sa_column=_utc())
    applied_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    reply: str | None = Field(default=None, max_length=CLICK_REPLY_MAX)  # the clicker's answer, once applied


class MessageKind:
    PARENT = "parent"  # the channel message that heads the thread
    PHASE = "phase"  # one per opened phase, in the thread
    PHASE_DONE = "phase_done"  # the one-line "Phase N complete" notice
    BARS = "bars"  # the committed success bars, redrawn on amendments
    EVALUATION = "evaluation"  # one evaluation's table; `subject_id` is the evaluation's id
    # A one-off line announcing a move (a stop, a reopening, a rollout stage, a waiver ending),
    # stored with the move so it is posted exactly once; `subject_id` numbers a project's notices.
    NOTICE = "notice"


# Messages Slack does not show as stored yet (unposted, behind, or to be counted again once
# Slack has settled), unless Slack refused them as they are for good. The repair pass reads
# this (partial) index only, so it is empty, and the pass cheap, when every thread is caught up.
UNSETTLED_MESSAGE = text(
    "(ts IS NULL OR rendered_version < wanted_version OR check_after IS NOT NULL)"
    " AND (refused_version IS NULL OR refused_version < wanted_version)"
)


# A posted message's `rendered_version` when a redraw whose claim ran out was answered: Slack may
# have applied that older drawing after a newer one. It stays until the next redraw is claimed,
# so whoever records a drawing meanwhile still counts the message as behind.
LATE_DRAWING = -2


class PostedMessage(SQLModel, table=True):
    """A message the bot owns in Slack, and how far Slack's copy is behind the database."""

    __tablename__ = "posted_message"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "phase_number", "subject_id", name="uq_message_slot"),
        Index(
            "ix_posted_message_unsettled",
            "project_id",
            sqlite_where=UNSETTLED_MESSAGE,
            postgresql_where=UNSETTLED_MESSAGE,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    kind: str = Field(max_length=16)
    phase_number: int = 0
    # What the message is about beyond its phase (an evaluation's id); 0 for one-per-phase kinds.
    subject_id: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    ts: str | None = Field(default=None, max_length=32)
    # The project version whose change last touched this message, and the last one Slack shows
    # (-1: unknown; LATE_DRAWING: an older drawing may have landed after the newest one).
    wanted_version: int = 0
    rendered_version: int = -1
    # Set while one worker posts the message, so that no other posts it again.
    claimed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Attempts that may have reached Slack: past the first, Slack may hold a post we never
    # heard back about (a refused attempt does not count).
    post_attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Slack refused this message for good (invalid_blocks, msg_too_long...) when drawn at
    # `refused_version`: it is tried again only once what it shows changes.
    refused_reason: str | None = Field(default=None, max_length=100)
    refused_version: int | None = None
    # When Slack last accepted a redraw, and the claim of the one worker redrawing it now:
    # redraws of one message are paced (slack_sync.REDRAW_INTERVAL) and never overlap.
    drawn_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    redraw_claimed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Set when Slack may hold copies we have not seen (a post whose answer never came): not
    # posted again, and not trusted, until this moment has passed and the thread is read back.
    check_after: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # A notice's mrkdwn, worded when its move was made (other kinds are drawn from the project).
    notice_text: str | None = Field(default=None, max_length=3000)


class ScheduleKind:
    STALL = "stall"  # the current phase has had no tick for a while
    DRIFT = "drift"  # after shipping: check live traffic for drift
    REDISTILL = "redistill"  # after shipping: review whether to re-distill


class Schedule(SQLModel, table=True):
    """One kind of reminder for one project; the next due time is derived and kept here."""

    __table_args__ = (UniqueConstraint("project_id", "kind", name="uq_schedule_project_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    kind: str = Field(max_length=16)
    enabled: bool = True
    every_days: int
    at_time: str | None = Field(default=None, max_length=5)  # "HH:MM" local, or any working hour
    # The next one falls `delay_days` (else `every_days`) local days after `anchor_at`.
    anchor_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    delay_days: int | None = None
    next_due_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )


class NudgeStatus:
    PENDING = "pending"
    SENDING = "sending"  # leased by one worker until lease_until
    SENT = "sent"
    SKIPPED = "skipped"


class Nudge(SQLModel, table=True):
    """One reminder occurrence: due once, posted at most once, answered at most once."""

    __table_args__ = (UniqueConstraint("project_id", "kind", "due_at", name="uq_nudge_occurrence"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    kind: str = Field(max_length=16)
    due_at: datetime = Field(sa_column=_utc())
    status: str = Field(default=NudgeStatus.PENDING, max_length=16, index=True)
    skip_reason: str | None = Field(default=None, max_length=200)
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_column=_utc())
    lease_token: str | None = Field(default=None, max_length=36)
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    last_error: str | None = Field(default=None, max_length=100)
    ts: str | None = Field(default=None, max_length=32)
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Set after a post that followed one whose answer never came: a late copy may still land,
    # so the thread is read back once this moment has passed and extra copies are deleted.
    check_after: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )
    answer: str | None = Field(default=None, max_length=32)
    answered_by: str | None = Field(default=None, max_length=32)
    answered_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class Owner(SQLModel, table=True):
    """Who may waive items, amend committed bars, and stop or reopen the project."""

    __table_args__ = (UniqueConstraint("project_id", "user_id", name="uq_owner_project_user"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    user_id: str = Field(max_length=32)
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=_utc())


class Waiver(SQLModel, table=True):
    """An owner's decision that an item counts for its gate without being done."""

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    item_key: str = Field(max_length=40)
    phase_number: int
    reason: str = Field(max_length=500)
    waived_by: str = Field(max_length=32)
    waived_at: datetime = Field(sa_column=_utc())
    expires_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )
    # Set when the waiver stops counting (it expired); the row stays as the record.
    ended_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class SuccessBars(SQLModel, table=True):
    """One recording of the success bars; the newest is in force. After Phase 2 passes,
    each new row is an amendment, with its reason."""

    __tablename__ = "success_bars"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    quality_metric: str = Field(max_length=60)
    quality_threshold: float
    cost_target: float | None = None  # per 1,000 requests
    latency_p95_ms: float | None = None
    acceptable_gap: float | None = None  # points of the quality metric below the teacher
    recorded_by: str = Field(max_length=32)
    recorded_at: datetime = Field(sa_column=_utc())
    amendment_reason: str | None = Field(default=None, max_length=500)


class SliceBar(SQLModel, table=True):
    __tablename__ = "slice_bar"

    id: int | None = Field(default=None, primary_key=True)
    bars_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("success_bars.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    name: str = Field(max_length=60)
    metric: str = Field(max_length=60)
    threshold: float
    critical: bool = False


class Evaluation(SQLModel, table=True):
    """Student and teacher on the held-out set, against the bars in force when recorded."""

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    bars_id: int = Field(sa_column=Column(Integer, ForeignKey("success_bars.id"), nullable=False))
    student_score: float
    teacher_score: float
    latency_p95_ms: float | None = None
    cost: float | None = None
    recorded_by: str = Field(max_length=32)
    recorded_at: datetime = Field(sa_column=_utc())
    ts: str | None = Field(default=None, max_length=32)  # the table posted in the thread


class SliceScore(SQLModel, table=True):
    __tablename__ = "slice_score"

    id: int | None = Field(default=None, primary_key=True)
    evaluation_id: int = Field(
        sa_column=Column(Integer, ForeignKey("evaluation.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    name: str = Field(max_length=60)
    student_score: float
    teacher_score: float


class ProjectEventKind:
    PHASE_PASSED = "phase_passed"
    SHIPPED = "shipped"
    STOPPED = "stopped"
    REOPENED = "reopened"
    ROLLOUT = "rollout"


class ProjectEvent(SQLModel, table=True):
    """Append-only record of a project's moves that have no row of their own: phases passed,
    shipping, stops, reopenings and rollout stages (ticks, waivers, bars and evaluations keep
    their own rows)."""

    __tablename__ = "project_event"

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(sa_column=_project_fk())
    kind: str = Field(max_length=16)
    phase_number: int | None = None
    detail: str | None = Field(default=None, max_length=500)
    user_id: str = Field(max_length=32)
    at: datetime = Field(sa_column=_utc())


class EventReceipt(SQLModel, table=True):
    """Events API deliveries already handled: Slack retries a delivery it thinks failed."""

    __tablename__ = "event_receipt"

    event_id: str = Field(primary_key=True, max_length=64)
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
