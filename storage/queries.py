"""Plain query functions, each taking the caller's session (the caller owns the transaction);
`receive_clicks` takes the group commit's connection instead."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    Column,
    Connection,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    text,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, col, select

from storage.models import (
    LATE_DRAWING,
    Evaluation,
    EventReceipt,
    MessageKind,
    Nudge,
    NudgeStatus,
    Owner,
    PostedMessage,
    Project,
    ProjectEvent,
    ProjectStatus,
    ReceivedClick,
    Schedule,
    SliceBar,
    SliceScore,
    SuccessBars,
    Tick,
    TickEvent,
    Waiver,
)
from storage.types import UTCDateTime

# --- projects -------------------------------------------------------------------------------


def create_project(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    name: str,
    checklist: str,
    started_by: str,
    now: datetime,
) -> Project:
    """Insert a project; raises IntegrityError when the channel already has an open one."""
    project = Project(
        team_id=team_id,
        channel_id=channel_id,
        name=name,
        checklist=checklist,
        started_by=started_by,
        started_at=now,
    )
    session.add(project)
    session.flush()
    return project


def get_project(session: Session, project_id: int, *, for_update: bool = False) -> Project | None:
    """The project; `for_update` locks its row (PostgreSQL) so changes to it queue up."""
    statement = select(Project).where(Project.id == project_id)
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def get_open_project(session: Session, team_id: str, channel_id: str) -> Project | None:
    return session.exec(
        select(Project).where(
            Project.team_id == team_id,
            Project.channel_id == channel_id,
            col(Project.closed_at).is_(None),
        )
    ).first()


def delete_project(session: Session, project_id: int) -> None:
    project = session.get(Project, project_id)
    if project is not None:
        session.delete(project)
        session.flush()


def activate_project(session: Session, project: Project, *, permalink: str | None) -> None:
    project.status = ProjectStatus.ACTIVE
    project.permalink = permalink
    session.add(project)


# --- ticks ----------------------------------------------------------------------------------


def list_ticks(session: Session, project_id: int) -> list[Tick]:
    return list(session.exec(select(Tick).where(Tick.project_id == project_id)).all())


def get_tick(session: Session, project_id: int, item_key: str) -> Tick | None:
    return session.exec(select(Tick).where(Tick.project_id == project_id, Tick.item_key == item_key)).first()


def copy_ticks(session: Session, source: Project, target: Project, *, up_to_phase: int) -> None:
    """Carry ticks over to a new cycle as they stand: same who and when."""
    for tick in list_ticks(session, _id(source)):
        if tick.phase_number <= up_to_phase:
            session.add(
                Tick(
                    project_id=_id(target),
                    item_key=tick.item_key,
                    phase_number=tick.phase_number,
                    ticked_by=tick.ticked_by,
                    ticked_at=tick.ticked_at,
                    version=0,
                )
            )
    session.flush()


def list_tick_events(session: Session, project_id: int) -> list[TickEvent]:
    return list(
        session.exec(
            select(TickEvent).where(TickEvent.project_id == project_id).order_by(col(TickEvent.id))
        ).all()
    )


def add_tick(
    session: Session, project: Project, *, item_key: str, phase_number: int, user_id: str, now: datetime
) -> Tick:
    """Tick an item and record the event; bumps the project version."""
    version = _bump_version(project)
    tick = Tick(
        project_id=_id(project),
        item_key=item_key,
        phase_number=phase_number,
        ticked_by=user_id,
        ticked_at=now,
        version=version,
    )
    session.add(tick)
    session.add(_event(project, tick.item_key, phase_number, "tick", user_id, now, version))
    session.flush()
    return tick


def remove_tick(
    session: Session, project: Project, tick: Tick, *, user_id: str, now: datetime, action: str = "untick"
) -> None:
    """Untick an item and record the event ("cleared" when a reopened phase takes it back);
    bumps the project version."""
    version = _bump_version(project)
    session.delete(tick)
    session.add(_event(project, tick.item_key, tick.phase_number, action, user_id, now, version))
    session.flush()


# --- received clicks ---------------------------------------------------------------------------


def receive_clicks(connection: Connection, clicks: list[dict[str, object]]) -> list[int]:
    """Store clicks as they came (ReceivedClick's columns); returns their ids, in the same
    order. One insert for them all, on the group commit's connection: this runs before the
    clicks' acks."""
    received = _table(ReceivedClick)
    if connection.dialect.name == "sqlite":
        return _receive_clicks_on_sqlite(connection, received, clicks)
    return _receive_clicks_on_postgresql(connection, received, clicks)


# What a received click is stored with, as ClickInbox.store hands it in (its id is SQLite's).
_RECEIVED_COLUMNS = (
    "project_id",
    "phase_number",
    "item_key",
    "seen_version",
    "selected",
    "team_id",
    "channel_id",
    "user_id",
    "received_at",
)


def _receive_clicks_on_sqlite(
    connection: Connection, received: Table, clicks: list[dict[str, object]]
) -> list[int]:
    """SQLite returns the rows of a many-row INSERT in no set order, so SQLAlchemy would send
    an INSERT a row to tell whose id is whose, each a trip through its execution machinery
    while the clicks' acks wait. Instead the rows go in one INSERT, each value converted by its
    column's type as SQLAlchemy would convert it. SQLite gives each new row the largest id so
    far plus one, in the order of the VALUES, and every writing transaction here holds the
    write lock (BEGIN IMMEDIATE): the rows' ids are the last one's and those just before it."""
    values = [
        value for row_values in _bound_rows(received, connection.dialect, clicks) for value in row_values
    ]
    row = f"({', '.join('?' for _ in _RECEIVED_COLUMNS)})"
    rows = ", ".join([row] * len(clicks))
    statement = f"INSERT INTO {received.name} ({', '.join(_RECEIVED_COLUMNS)}) VALUES {rows}"
    with _on_driver(connection, statement, tuple(values)) as cursor:
        last = int(cursor.lastrowid)
    return list(range(last - len(clicks) + 1, last + 1))


def _receive_clicks_on_postgresql(
    connection: Connection, received: Table, clicks: list[dict[str, object]]
) -> list[int]:
    """One INSERT whose rows come as one JSON array, numbered as they are unpacked and inserted
    in that order, so the serial ids they get rise in it. Its text is the same for any number
    of rows: psycopg parses a statement's placeholders in Python and keeps the result only for
    statements of at most 50 parameters, and a batch of eight clicks as VALUES had 80 (its
    parsing took about as much CPU as the rest of the store, while the clicks' acks waited).
    Sent through the driver, because SQLAlchemy's execution machinery cost more than the
    statement's round trip."""
    statement = _json_insert(received, connection.dialect)
    with _on_driver(connection, statement, (_json_array(connection.dialect, clicks),)) as cursor:
        return sorted(int(click_id) for (click_id,) in cursor.fetchall())


@contextmanager
def _on_driver(connection: Connection, statement: str, parameters: tuple[object, ...]) -> Iterator[Any]:
    """The driver's cursor, `statement` executed on it; closed on the way out.

    Executed the way SQLAlchemy's dialects execute their own side statements (sequences,
    defaults): its events see the statement, and a driver's error comes out as SQLAlchemy's
    (a DataError, an OperationalError, a lost connection invalidated). It builds no execution
    context and no result: for a one-row insert those cost more CPU than the driver's whole
    call, and a click's ack waits for them. `_cursor_execute` is not public API; the group
    commit's tests (its statements, a refused row) fail if it changes."""
    cursor = connection.connection.cursor()
    try:
        connection._cursor_execute(cursor, statement, parameters)
        yield cursor
    finally:
        cursor.close()


@lru_cache(maxsize=8)
def _json_insert(received: Table, dialect: Dialect) -> str:
    """Each value is read as its column's type, as SQLAlchemy casts it: a string without its
    length, since a cast would cut a long one short where the INSERT refuses it."""
    names = ", ".join(_RECEIVED_COLUMNS)
    types = ", ".join(f"{name} {_cast_type(received.c[name], dialect)}" for name in _RECEIVED_COLUMNS)
    return (
        f"INSERT INTO {received.name} ({names}) SELECT {names}"
        f" FROM ROWS FROM (json_to_recordset(%s::json) AS ({types}))"
        f" WITH ORDINALITY AS given ({names}, n) ORDER BY n RETURNING id"
    )


def _cast_type(column: Column[Any], dialect: Dialect) -> str:
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    return "VARCHAR" if isinstance(kind, String) else column.type.compile(dialect)


def _bound_rows(
    received: Table, dialect: Dialect, clicks: list[dict[str, object]]
) -> list[tuple[object, ...]]:
    """Each click's values in `_RECEIVED_COLUMNS` order, each converted by its column's type as
    SQLAlchemy would convert it."""
    converters = _bind_converters(received, dialect)
    return [
        tuple(
            convert(click[name]) if convert else click[name]
            for name, convert in zip(_RECEIVED_COLUMNS, converters, strict=True)
        )
        for click in clicks
    ]


@lru_cache(maxsize=8)
def _bind_converters(table: Table, dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    return [table.c[name].type.bind_processor(dialect) for name in _RECEIVED_COLUMNS]


def waiting_clicks(session: Session, project_id: int, *, limit: int) -> list[ReceivedClick]:
    """The project's first `limit` clicks not applied yet, in the order they were received."""
    return list(
        session.exec(
            select(ReceivedClick)
            .where(ReceivedClick.project_id == project_id, col(ReceivedClick.applied_at).is_(None))
            .order_by(col(ReceivedClick.id))
            .limit(limit)
        ).all()
    )


def click_reply(session: Session, click_id: int) -> tuple[bool, str | None]:
    """(applied yet, what to tell the clicker) of one received click."""
    row = session.execute(
        sa_select(_table(ReceivedClick).c.applied_at, _table(ReceivedClick).c.reply).where(
            _table(ReceivedClick).c.id == click_id
        )
    ).first()
    return (False, None) if row is None else (row.applied_at is not None, row.reply)


def projects_with_waiting_clicks(session: Session, *, limit: int) -> list[int]:
    """Projects with clicks nobody applied (a full pool, a restart): the beat applies them."""
    waiting = _table(ReceivedClick)
    return list(
        session.execute(
            sa_select(waiting.c.project_id)
            .where(waiting.c.applied_at.is_(None))
            .group_by(waiting.c.project_id)
            .order_by(waiting.c.project_id)
            .limit(limit)
        ).scalars()
    )


def forget_applied_clicks(session: Session, *, applied_before: datetime) -> int:
    """Drop clicks applied long ago: the tick events keep the record, these only the replies."""
    received = _table(ReceivedClick)
    result = session.execute(delete(received).where(received.c.applied_at < applied_before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _event(
    project: Project, item_key: str, phase_number: int, action: str, user_id: str, now: datetime, version: int
) -> TickEvent:
    return TickEvent(
        project_id=_id(project),
        item_key=item_key,
        phase_number=phase_number,
        action=action,
        user_id=user_id,
        at=now,
        version=version,
    )


def _bump_version(project: Project) -> int:
    project.version += 1
    return project.version


def _table(model: type[SQLModel]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


def _id(project: Project) -> int:
    assert project.id is not None, "project must be flushed first"
    return project.id


# --- messages -------------------------------------------------------------------------------


def list_messages(session: Session, project_id: int) -> list[PostedMessage]:
    return list(session.exec(select(PostedMessage).where(PostedMessage.project_id == project_id)).all())


def get_message(session: Session, message_id: int) -> PostedMessage | None:
    return session.get(PostedMessage, message_id)


def get_thread_ts(session: Session, project_id: int) -> str | None:
    return session.exec(
        select(PostedMessage.ts).where(
            PostedMessage.project_id == project_id, PostedMessage.kind == MessageKind.PARENT
        )
    ).first()


def put_message(
    session: Session, project: Project, *, kind: str, phase_number: int = 0, repost: bool = False
) -> PostedMessage:
    """The message in this slot, to be posted. When the slot is taken (a reopened phase passing
    again) the message is redrawn in place, or with `repost` posted anew at the bottom of the
    thread (the earlier post stays in Slack as it was)."""
    existing = session.exec(
        select(PostedMessage).where(
            PostedMessage.project_id == _id(project),
            PostedMessage.kind == kind,
            PostedMessage.phase_number == phase_number,
        )
    ).first()
    if existing is not None and repost:
        session.delete(existing)  # a new row, a new id: a read-back never adopts the old post
        session.flush()
        existing = None
    if existing is None:
        return add_message(session, project, kind=kind, phase_number=phase_number)
    existing.wanted_version = project.version
    session.add(existing)
    return existing


def add_message(
    session: Session,
    project: Project,
    *,
    kind: str,
    phase_number: int = 0,
    subject_id: int = 0,
    ts: str | None = None,
) -> PostedMessage:
    message = PostedMessage(
        project_id=_id(project),
        kind=kind,
        phase_number=phase_number,
        subject_id=subject_id,
        ts=ts,
        wanted_version=project.version,
        rendered_version=project.version if ts else -1,
    )
    session.add(message)
    session.flush()
    return message


def add_notice(session: Session, project: Project, *, text: str) -> PostedMessage | None:
    """A notice in the project's thread, stored in the move's own transaction (the project row
    is locked, so its number is free). None while the project has no thread yet."""
    if project.status == ProjectStatus.STARTING:
        return None
    last = session.exec(
        select(func.max(PostedMessage.subject_id)).where(
            PostedMessage.project_id == _id(project), PostedMessage.kind == MessageKind.NOTICE
        )
    ).one()
    number = (last or 0) + 1
    message = add_message(
        session, project, kind=MessageKind.NOTICE, phase_number=project.current_phase, subject_id=number
    )
    message.notice_text = text
    session.add(message)
    return message


def mark_messages_stale(
    session: Session, project: Project, *, kinds_and_phases: list[tuple[str, int]]
) -> None:
    """Note that these messages must be redrawn at the project's current version."""
    if not kinds_and_phases:
        return
    # One statement, without the ORM's in-session evaluation (a click pays for this before its
    # ack); copies already loaded in this session are expired so they read the new value.
    session.execute(
        update(PostedMessage)
        .where(
            col(PostedMessage.project_id) == _id(project),
            or_(
                *(
                    and_(col(PostedMessage.kind) == kind, col(PostedMessage.phase_number) == phase_number)
                    for kind, phase_number in kinds_and_phases
                )
            ),
        )
        .values(wanted_version=project.version)
        .execution_options(synchronize_session=False)
    )
    for loaded in session.identity_map.values():
        if isinstance(loaded, PostedMessage) and loaded.project_id == project.id:
            session.expire(loaded, ["wanted_version"])


def claim_message(session: Session, message_id: int, *, now: datetime, stale_after: timedelta) -> int | None:
    """Take the right to post an unposted message. Returns which attempt this is, or None
    when someone else holds it, or Slack may still be storing an earlier attempt."""
    result = session.execute(
        update(PostedMessage)
        .where(
            col(PostedMessage.id) == message_id,
            col(PostedMessage.ts).is_(None),
            or_(col(PostedMessage.claimed_at).is_(None), col(PostedMessage.claimed_at) < now - stale_after),
            or_(col(PostedMessage.check_after).is_(None), col(PostedMessage.check_after) <= now),
        )
        .values(claimed_at=now, post_attempts=col(PostedMessage.post_attempts) + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.exec(select(PostedMessage.post_attempts).where(PostedMessage.id == message_id)).one()


def release_message(session: Session, message_id: int, *, check_after: datetime | None = None) -> None:
    """Give up a claim. Without `check_after` Slack refused the post, so the attempt does not
    count; with it, Slack may have stored it: nobody posts again before that moment."""
    values: dict[str, object] = {"claimed_at": None, "check_after": check_after}
    if check_after is None:
        values["post_attempts"] = col(PostedMessage.post_attempts) - 1
    session.execute(update(PostedMessage).where(col(PostedMessage.id) == message_id).values(**values))


def record_posted(
    session: Session,
    message_id: int,
    *,
    attempt: int,
    ts: str,
    version: int,
    check_after: datetime | None = None,
) -> bool:
    """Slack holds the message at `ts`; `check_after`: a late copy may still land, count them then.
    False, and nothing recorded, when `attempt` is no longer the latest (its claim ran out and a
    later attempt took over) or a post is recorded already: this one may be a second copy."""
    result = session.execute(
        update(PostedMessage)
        .where(
            col(PostedMessage.id) == message_id,
            col(PostedMessage.post_attempts) == attempt,
            col(PostedMessage.ts).is_(None),
        )
        .values(
            ts=ts,
            rendered_version=version,
            claimed_at=None,
            check_after=check_after,
            refused_reason=None,
            refused_version=None,
        )
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def recount_copies(session: Session, message_id: int, *, after: datetime) -> None:
    """Read the thread back for the message's copies once `after` has passed (see record_checked)."""
    session.execute(
        update(PostedMessage).where(col(PostedMessage.id) == message_id).values(check_after=after)
    )


def record_checked(session: Session, message_id: int, *, ts: str) -> None:
    """The thread was read back and holds the message once, at `ts`. A different ts than the
    one recorded (an older copy kept) is redrawn: it shows what was drawn back then."""
    message = session.get(PostedMessage, message_id)
    if message is None:
        return
    if message.ts != ts:
        message.ts, message.rendered_version = ts, -1
    message.check_after = None
    session.add(message)


def claim_redraw(
    session: Session, message_id: int, *, now: datetime, stale_after: timedelta
) -> PostedMessage | None:
    """Take the right to redraw a posted message that is behind the database. None when it is
    up to date, or when another worker holds the claim (it checks for newer changes when done)."""
    result = session.execute(
        update(PostedMessage)
        .where(
            col(PostedMessage.id) == message_id,
            col(PostedMessage.ts).is_not(None),
            or_(
                col(PostedMessage.rendered_version) < col(PostedMessage.wanted_version),
                # Posted on a retry, perhaps adopted from a worker that died: it shows what was
                # drawn back then, so it is redrawn once.
                (col(PostedMessage.post_attempts) > 1) & col(PostedMessage.drawn_at).is_(None),
            ),
            or_(
                col(PostedMessage.redraw_claimed_at).is_(None),
                col(PostedMessage.redraw_claimed_at) < now - stale_after,
            ),
        )
        .values(
            redraw_claimed_at=now,
            # Any late drawing has landed by now (its worker was answered): this one goes after it.
            rendered_version=case(
                (col(PostedMessage.rendered_version) == LATE_DRAWING, -1),
                else_=col(PostedMessage.rendered_version),
            ),
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(PostedMessage, message_id, populate_existing=True)


def release_redraw(session: Session, message_id: int, *, claimed_at: datetime) -> None:
    session.execute(
        update(PostedMessage)
        .where(col(PostedMessage.id) == message_id, col(PostedMessage.redraw_claimed_at) == claimed_at)
        .values(redraw_claimed_at=None)
    )


def release_all_redraw_claims(session: Session) -> int:
    """Let go of every redraw claim (at start-up). Returns how many were held."""
    result = session.execute(
        update(PostedMessage)
        .where(col(PostedMessage.redraw_claimed_at).is_not(None))
        .values(redraw_claimed_at=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def record_refused(session: Session, message_id: int, *, reason: str, version: int) -> None:
    """Slack refused this message, drawn at `version`, for good: no retry of the same content."""
    session.execute(
        update(PostedMessage)
        .where(col(PostedMessage.id) == message_id)
        .values(refused_reason=reason[:100], refused_version=version, claimed_at=None)
    )


def record_redrawn(
    session: Session, message_id: int, *, version: int, drawn_at: datetime, claimed_at: datetime
) -> bool:
    """Slack now shows `version`: record it and let go of the claim. Returns True when the
    message is still behind the database (a change came in meanwhile)."""
    kept = session.execute(
        update(PostedMessage)
        .where(col(PostedMessage.id) == message_id, col(PostedMessage.redraw_claimed_at) == claimed_at)
        .values(
            # An older drawing answered meanwhile may have landed after this one: still behind.
            rendered_version=case(
                (col(PostedMessage.rendered_version) == LATE_DRAWING, LATE_DRAWING), else_=version
            ),
            drawn_at=drawn_at,
            redraw_claimed_at=None,
            refused_reason=None,
            refused_version=None,
        )
    )
    if kept.rowcount != 1:  # type: ignore[attr-defined]
        # The claim ran out and another worker took over: this older drawing may land after
        # theirs, whether they recorded theirs already or not, so the message is drawn again.
        session.execute(
            update(PostedMessage)
            .where(col(PostedMessage.id) == message_id)
            .values(rendered_version=LATE_DRAWING)
        )
    message = session.get(PostedMessage, message_id, populate_existing=True)
    return message is not None and message.rendered_version < message.wanted_version


def unsettled_project_ids(session: Session, *, after: int, limit: int) -> list[int]:
    """Projects past `after` with a message Slack does not show as stored (the repair
    backlog), at most `limit`; reads only the partial index of such messages."""
    statement = (
        select(PostedMessage.project_id)
        .where(
            # The partial index's predicate (models.UNSETTLED_MESSAGE), term for term, so it is used.
            or_(
                col(PostedMessage.ts).is_(None),
                col(PostedMessage.rendered_version) < col(PostedMessage.wanted_version),
                col(PostedMessage.check_after).is_not(None),
            ),
            or_(
                col(PostedMessage.refused_version).is_(None),
                col(PostedMessage.refused_version) < col(PostedMessage.wanted_version),
            ),
            col(PostedMessage.project_id) > after,
        )
        .distinct()
        .order_by(col(PostedMessage.project_id))
        .limit(limit)
    )
    return list(session.exec(statement).all())


# --- schedules and nudges ------------------------------------------------------------------


def list_schedules(session: Session, project_id: int) -> list[Schedule]:
    return list(session.exec(select(Schedule).where(Schedule.project_id == project_id)).all())


def copy_schedule_settings(session: Session, source: Project, target: Project) -> None:
    """A new cycle keeps the team's intervals, times and on/off choices (not the due times)."""
    for schedule in list_schedules(session, _id(source)):
        session.add(
            Schedule(
                project_id=_id(target),
                kind=schedule.kind,
                enabled=schedule.enabled,
                every_days=schedule.every_days,
                at_time=schedule.at_time,
            )
        )
    session.flush()


def add_schedule(session: Session, project_id: int, *, kind: str, every_days: int) -> Schedule:
    schedule = Schedule(project_id=project_id, kind=kind, every_days=every_days)
    session.add(schedule)
    session.flush()
    return schedule


@dataclass(frozen=True)
class DueSchedule:
    """A due schedule as planning reads it: its settings and its project's time zone."""

    id: int
    project_id: int
    kind: str
    enabled: bool
    every_days: int
    at_time: str | None
    anchor_at: datetime | None
    delay_days: int | None
    timezone: str | None


def lock_due_schedules(session: Session, *, now: datetime, limit: int) -> list[DueSchedule]:
    """Due schedules of open, unpaused projects, locked; other replicas skip past them. Plain
    rows, not ORM objects: planning reads thousands at once."""
    statement = (
        sa_select(
            col(Schedule.id),
            col(Schedule.project_id),
            col(Schedule.kind),
            col(Schedule.enabled),
            col(Schedule.every_days),
            col(Schedule.at_time),
            col(Schedule.anchor_at),
            col(Schedule.delay_days),
            col(Project.timezone),
        )
        .join(Project, col(Project.id) == col(Schedule.project_id))
        .where(
            col(Schedule.next_due_at) <= now,
            col(Schedule.enabled).is_(True),
            col(Project.closed_at).is_(None),
            col(Project.nudges_paused_reason).is_(None),
        )
        .order_by(col(Schedule.next_due_at))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Schedule)  # type: ignore[arg-type]
    )
    return [DueSchedule(*row) for row in session.execute(statement).all()]


def store_next_due(session: Session, changes: list[dict[str, object]]) -> None:
    """Record where many schedules now count from and when each falls due next: one UPDATE by
    primary key for the batch (`id`, `anchor_at`, `delay_days`, `next_due_at` per schedule)."""
    if not changes:
        return
    if _on_postgresql(session):
        session.execute(_PG_STORE_NEXT_DUE, _json_rows(session, changes))
        return
    table = _table(Schedule)  # Core, not the ORM: no per-row bookkeeping for thousands of rows
    session.execute(
        update(table)
        .where(table.c.id == bindparam("schedule_id"))
        .values(
            anchor_at=bindparam("new_anchor_at"),
            delay_days=bindparam("new_delay_days"),
            next_due_at=bindparam("new_next_due_at"),
        ),
        [
            {
                "schedule_id": change["id"],
                "new_anchor_at": change["anchor_at"],
                "new_delay_days": change["delay_days"],
                "new_next_due_at": change["next_due_at"],
            }
            for change in changes
        ],
    )


# PostgreSQL runs a many-row executemany as one statement per row. Planning writes thousands
# of rows at once, so there the rows go as one JSON array that the server unpacks: one
# statement, a third of the time.
_PG_STORE_NEXT_DUE = text(
    """
    UPDATE schedule
    SET anchor_at = given.anchor_at, delay_days = given.delay_days, next_due_at = given.next_due_at
    FROM json_to_recordset(CAST(:rows AS json))
        AS given(id integer, anchor_at timestamptz, delay_days integer, next_due_at timestamptz)
    WHERE schedule.id = given.id
    """
)
_PG_ADD_NUDGES = text(
    """
    INSERT INTO nudge (project_id, kind, due_at, status, next_attempt_at, skip_reason, attempts)
    SELECT project_id, kind, due_at, status, next_attempt_at, skip_reason, attempts
    FROM json_to_recordset(CAST(:rows AS json))
        AS given(project_id integer, kind varchar, due_at timestamptz, status varchar,
                 next_attempt_at timestamptz, skip_reason varchar, attempts integer)
    """
)


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _json_rows(session: Session, rows: list[dict[str, object]]) -> dict[str, str]:
    """Rows as the one JSON parameter of the statements above."""
    return {"rows": _json_array(session.get_bind().dialect, rows)}


def _json_array(dialect: Dialect, rows: list[dict[str, object]]) -> str:
    """Rows as one JSON array for `json_to_recordset`; datetimes as ISO 8601, checked and made
    UTC by the columns' own type (a naive one is refused, as in any other write)."""

    def plain(value: object) -> object:
        if isinstance(value, datetime):
            return _UTC.process_bind_param(value, dialect).isoformat()  # type: ignore[union-attr]
        raise TypeError(f"cannot store {type(value).__name__} as JSON")

    return json.dumps(rows, default=plain)


_UTC = UTCDateTime()


def nudge_row(
    project_id: int,
    *,
    kind: str,
    due_at: datetime,
    status: str,
    next_attempt_at: datetime,
    skip_reason: str | None = None,
) -> dict[str, object]:
    """A nudge as add_nudges inserts it."""
    return {
        "project_id": project_id,
        "kind": kind,
        "due_at": due_at,
        "status": status,
        "next_attempt_at": next_attempt_at,
        "skip_reason": skip_reason,
        "attempts": 0,
    }


def add_nudges(session: Session, rows: list[dict[str, object]]) -> None:
    """Insert many nudges in one statement (planning thousands that fall due at once)."""
    if not rows:
        return
    if _on_postgresql(session):
        session.execute(_PG_ADD_NUDGES, _json_rows(session, rows))
    else:
        session.execute(insert(_table(Nudge)), rows)  # Core: no ORM bookkeeping per row


def add_nudge(
    session: Session,
    project_id: int,
    *,
    kind: str,
    due_at: datetime,
    status: str,
    next_attempt_at: datetime,
    skip_reason: str | None = None,
) -> Nudge:
    nudge = Nudge(
        project_id=project_id,
        kind=kind,
        due_at=due_at,
        status=status,
        next_attempt_at=next_attempt_at,
        skip_reason=skip_reason,
    )
    session.add(nudge)
    session.flush()
    return nudge


def claim_nudges(
    session: Session,
    *,
    now: datetime,
    limit: int,
    token: str,
    until: datetime,
    project_id: int | None = None,
) -> list[int]:
    """Lease nudges ready to send, and those whose sender's lease ran out, skipping rows other
    replicas hold; one UPDATE for the batch. Only one project's, when `project_id` is given.
    Returns their ids."""
    ready = (
        select(Nudge.id)
        .join(Project, col(Project.id) == col(Nudge.project_id))
        .where(
            or_(
                (col(Nudge.status) == NudgeStatus.PENDING) & (col(Nudge.next_attempt_at) <= now),
                (col(Nudge.status) == NudgeStatus.SENDING) & (col(Nudge.lease_until) < now),
            ),
            col(Project.nudges_paused_reason).is_(None),
        )
        .order_by(col(Nudge.next_attempt_at))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Nudge)  # type: ignore[arg-type]
    )
    if project_id is not None:
        ready = ready.where(col(Nudge.project_id) == project_id)
    # One statement: choosing and leasing together saves a round trip and a thousand parameters.
    claimed = session.execute(
        update(Nudge)
        .where(col(Nudge.id).in_(ready.scalar_subquery()))
        .values(
            status=NudgeStatus.SENDING,
            lease_token=token,
            lease_until=until,
            attempts=col(Nudge.attempts) + 1,
        )
        .returning(col(Nudge.id), col(Nudge.next_attempt_at))
        .execution_options(synchronize_session=False)
    ).all()
    return [nudge_id for nudge_id, _ in sorted(claimed, key=lambda row: (row[1], row[0]))]


def get_nudge(session: Session, nudge_id: int, *, for_update: bool = False) -> Nudge | None:
    statement = select(Nudge).where(Nudge.id == nudge_id)
    if for_update:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def finish_nudge(session: Session, nudge_id: int, lease_token: str, **values: object) -> bool:
    """Record how a leased send ended; False when the lease was lost to another worker."""
    result = session.execute(
        update(Nudge)
        .where(col(Nudge.id) == nudge_id, col(Nudge.lease_token) == lease_token)
        .values(lease_token=None, lease_until=None, **values)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def nudges_to_check(session: Session, *, now: datetime, limit: int) -> list[Nudge]:
    """Sent nudges whose thread must be read back for late copies now."""
    return list(
        session.exec(
            select(Nudge).where(col(Nudge.check_after) <= now).order_by(col(Nudge.check_after)).limit(limit)
        ).all()
    )


def recheck_nudge(session: Session, nudge_id: int, *, at: datetime) -> None:
    """Read the nudge's thread back, and draw it again, once `at` has passed."""
    session.execute(update(Nudge).where(col(Nudge.id) == nudge_id).values(check_after=at))


def list_nudges(session: Session, project_id: int | None = None) -> list[Nudge]:
    statement = select(Nudge).order_by(col(Nudge.id))
    if project_id is not None:
        statement = statement.where(Nudge.project_id == project_id)
    return list(session.exec(statement).all())


def last_answered_nudge(session: Session, project_id: int, kind: str) -> Nudge | None:
    return session.exec(
        select(Nudge)
        .where(Nudge.project_id == project_id, Nudge.kind == kind, col(Nudge.answer).is_not(None))
        .order_by(col(Nudge.answered_at).desc())
    ).first()


# --- owners ----------------------------------------------------------------------------------


def list_owners(session: Session, project_id: int) -> list[str]:
    return list(
        session.exec(
            select(Owner.user_id).where(Owner.project_id == project_id).order_by(col(Owner.id))
        ).all()
    )


def add_owner(session: Session, project: Project, *, user_id: str, added_by: str, now: datetime) -> None:
    session.add(Owner(project_id=_id(project), user_id=user_id, added_by=added_by, added_at=now))
    session.flush()


def remove_owner(session: Session, project: Project, user_id: str) -> None:
    owner = session.exec(
        select(Owner).where(Owner.project_id == _id(project), Owner.user_id == user_id)
    ).first()
    if owner is not None:
        session.delete(owner)
        session.flush()


# --- waivers ---------------------------------------------------------------------------------


def list_waivers(session: Session, project_id: int) -> list[Waiver]:
    return list(
        session.exec(select(Waiver).where(Waiver.project_id == project_id).order_by(col(Waiver.id))).all()
    )


def add_waiver(
    session: Session,
    project: Project,
    *,
    item_key: str,
    phase_number: int,
    reason: str,
    waived_by: str,
    waived_at: datetime,
    expires_at: datetime | None,
) -> Waiver:
    waiver = Waiver(
        project_id=_id(project),
        item_key=item_key,
        phase_number=phase_number,
        reason=reason,
        waived_by=waived_by,
        waived_at=waived_at,
        expires_at=expires_at,
    )
    session.add(waiver)
    session.flush()
    return waiver


def expired_waiver_projects(session: Session, *, now: datetime) -> list[int]:
    """Open projects with a waiver in force whose expiry has passed (a stopped project, or an
    earlier cycle, is read-only: its waivers stay as they were)."""
    return sorted(
        set(
            session.exec(
                select(Waiver.project_id)
                .join(Project, col(Project.id) == col(Waiver.project_id))
                .where(
                    col(Project.closed_at).is_(None),
                    col(Waiver.ended_at).is_(None),
                    col(Waiver.expires_at).is_not(None),
                    col(Waiver.expires_at) <= now,
                )
            ).all()
        )
    )


# --- success bars and evaluations ------------------------------------------------------------


def current_bars(
    session: Session, project_id: int, *, after_id: int = 0
) -> tuple[SuccessBars, list[SliceBar]] | None:
    """The newest bars; `after_id` skips those recorded before their phase was reopened."""
    bars = session.exec(
        select(SuccessBars)
        .where(SuccessBars.project_id == project_id, col(SuccessBars.id) > after_id)
        .order_by(col(SuccessBars.id).desc())
    ).first()
    if bars is None:
        return None
    slices = session.exec(
        select(SliceBar).where(SliceBar.bars_id == bars.id).order_by(col(SliceBar.id))
    ).all()
    return bars, list(slices)


def get_bars(session: Session, bars_id: int) -> tuple[SuccessBars, list[SliceBar]] | None:
    bars = session.get(SuccessBars, bars_id)
    if bars is None:
        return None
    slices = session.exec(
        select(SliceBar).where(SliceBar.bars_id == bars_id).order_by(col(SliceBar.id))
    ).all()
    return bars, list(slices)


def add_bars(session: Session, project: Project, bars: SuccessBars, slices: list[SliceBar]) -> SuccessBars:
    bars.project_id = _id(project)
    session.add(bars)
    session.flush()
    for slice_bar in slices:
        slice_bar.bars_id = bars.id or 0
        session.add(slice_bar)
    session.flush()
    return bars


def copy_bars(session: Session, source: Project, target: Project) -> None:
    """Carry the bars in force over to a new cycle as they stand: same values, who and when."""
    found = current_bars(session, _id(source))
    if found is None:
        return
    bars, slices = found
    copied = SuccessBars(**bars.model_dump(exclude={"id", "project_id"}), project_id=_id(target))
    add_bars(
        session,
        target,
        copied,
        [SliceBar(**s.model_dump(exclude={"id", "bars_id"}), bars_id=0) for s in slices],
    )


def latest_evaluation(
    session: Session, project_id: int, *, after_id: int = 0
) -> tuple[Evaluation, list[SliceScore]] | None:
    """The newest evaluation; `after_id` skips those recorded before their phase was reopened."""
    evaluation = session.exec(
        select(Evaluation)
        .where(Evaluation.project_id == project_id, col(Evaluation.id) > after_id)
        .order_by(col(Evaluation.id).desc())
    ).first()
    if evaluation is None:
        return None
    return evaluation, list_slice_scores(session, evaluation.id or 0)


def get_evaluation(session: Session, evaluation_id: int) -> tuple[Evaluation, list[SliceScore]] | None:
    evaluation = session.get(Evaluation, evaluation_id)
    if evaluation is None:
        return None
    return evaluation, list_slice_scores(session, evaluation_id)


def list_evaluations(session: Session, project_id: int) -> list[Evaluation]:
    return list(
        session.exec(
            select(Evaluation).where(Evaluation.project_id == project_id).order_by(col(Evaluation.id))
        ).all()
    )


def list_slice_scores(session: Session, evaluation_id: int) -> list[SliceScore]:
    return list(session.exec(select(SliceScore).where(SliceScore.evaluation_id == evaluation_id)).all())


def add_evaluation(session: Session, evaluation: Evaluation, scores: list[SliceScore]) -> Evaluation:
    session.add(evaluation)
    session.flush()
    for score in scores:
        score.evaluation_id = evaluation.id or 0
        session.add(score)
    session.flush()
    return evaluation


def max_bars_id(session: Session, project_id: int) -> int:
    return int(
        session.exec(select(func.max(SuccessBars.id)).where(SuccessBars.project_id == project_id)).one() or 0
    )


def max_evaluation_id(session: Session, project_id: int) -> int:
    return int(
        session.exec(select(func.max(Evaluation.id)).where(Evaluation.project_id == project_id)).one() or 0
    )


# --- the project record ----------------------------------------------------------------------


def add_project_event(
    session: Session,
    project: Project,
    *,
    kind: str,
    user_id: str,
    now: datetime,
    phase_number: int | None = None,
    detail: str | None = None,
) -> ProjectEvent:
    event = ProjectEvent(
        project_id=_id(project), kind=kind, phase_number=phase_number, detail=detail, user_id=user_id, at=now
    )
    session.add(event)
    session.flush()
    return event


def list_project_events(session: Session, project_id: int, *, kind: str | None = None) -> list[ProjectEvent]:
    statement = select(ProjectEvent).where(ProjectEvent.project_id == project_id)
    if kind is not None:
        statement = statement.where(ProjectEvent.kind == kind)
    return list(session.exec(statement.order_by(col(ProjectEvent.id))).all())


def latest_channel_project(session: Session, team_id: str, channel_id: str) -> Project | None:
    """The channel's newest project, open or not (a stopped one stays readable)."""
    return session.exec(
        select(Project)
        .where(
            Project.team_id == team_id,
            Project.channel_id == channel_id,
            Project.status != ProjectStatus.STARTING,
        )
        .order_by(col(Project.id).desc())
    ).first()


def list_cycles(session: Session, project: Project) -> list[Project]:
    """The project and the cycles before it, oldest first."""
    chain = [project]
    while chain[-1].previous_project_id is not None:
        previous = session.get(Project, chain[-1].previous_project_id)
        if previous is None:
            break
        chain.append(previous)
    return list(reversed(chain))


def newest_project_id(session: Session) -> int:
    """The id of the project created last, in any workspace (0 when there is none)."""
    return session.exec(select(func.max(Project.id))).one() or 0


def list_projects_in_channels(session: Session, team_id: str, channel_ids: Collection[str]) -> list[Project]:
    """The newest cycle of each project in these channels of the workspace, the most recently
    active first."""
    if not channel_ids:
        return []
    superseded = select(Project.previous_project_id).where(
        Project.team_id == team_id, col(Project.previous_project_id).is_not(None)
    )
    projects = session.exec(
        select(Project).where(
            Project.team_id == team_id,
            col(Project.channel_id).in_(sorted(channel_ids)),
            Project.status != ProjectStatus.STARTING,
            col(Project.id).not_in(superseded),
        )
    ).all()
    return sorted(projects, key=lambda p: (p.last_activity_at or p.started_at, p.id or 0), reverse=True)


def record_event_receipt(session: Session, event_id: str, *, now: datetime) -> bool:
    """True the first time an Events API delivery is seen, False for Slack's retries of it.
    Slack retries within about five minutes, so receipts a day old are dropped."""
    session.execute(delete(EventReceipt).where(col(EventReceipt.received_at) < now - timedelta(days=1)))
    try:
        with session.begin_nested():
            session.add(EventReceipt(event_id=event_id, received_at=now))
    except IntegrityError:
        return False
    return True
