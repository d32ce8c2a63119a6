"""Storage on a real SQLite file and on the machine's PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, SQLModel, col, select

from storage import queries
from storage.engine import make_engine, session_scope, waiting_at_most
from storage.migrate import alembic_config, upgrade
from storage.models import MessageKind, Nudge, PostedMessage, Project, Schedule, Tick
from tests.processes import bot_environment, run_cli

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _project(session: Session, channel: str = "C1") -> Project:
    return queries.create_project(
        session, team_id="T1", channel_id=channel, name="P", checklist="default", started_by="U1", now=NOW
    )


def test_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_replicas_migrating_at_once_and_again_is_harmless(database_url: str, tmp_path: Path) -> None:
    # Alembic keeps per-command state in module globals, so "at once" means processes, as replicas are.
    env = bot_environment(None, database_url)
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "migrate"], env=env, cwd=tmp_path, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    outcomes = [
        (replica.wait(timeout=120), replica.stderr.read() if replica.stderr else b"") for replica in replicas
    ]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert run_cli(["migrate"], env, cwd=tmp_path).returncode == 0
    engine = make_engine(database_url)
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert MigrationContext.configure(connection).get_current_heads() == (head,)
    engine.dispose()


def test_migrating_is_one_transaction_from_reading_the_version_to_the_last_migration(
    database_url: str,
) -> None:
    # Replicas take turns only if nothing commits (so releasing the lock) between reading the
    # version and applying the last migration; otherwise two replicas can both apply the same one.
    engine = make_engine(database_url)
    transactions: list[str] = []
    event.listen(engine, "begin", lambda _connection: transactions.append("begin"))
    upgrade(engine)
    upgrade(engine)  # and again, with nothing left to do
    engine.dispose()
    assert transactions == ["begin", "begin"]


def test_one_open_project_per_channel(engine: Engine) -> None:
    with session_scope(engine) as session:
        first = _project(session)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        _project(session)
    with session_scope(engine) as session:
        _project(session, channel="C2")  # another channel is fine
        closed = session.get(Project, first.id)
        assert closed is not None
        closed.closed_at = NOW
    with session_scope(engine) as session:
        _project(session)  # a closed project frees its channel


def test_an_item_is_ticked_at_most_once(engine: Engine) -> None:
    with session_scope(engine) as session:
        project = _project(session)
        queries.add_tick(session, project, item_key="a", phase_number=1, user_id="U1", now=NOW)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        stored = queries.get_project(session, 1)
        assert stored is not None
        queries.add_tick(session, stored, item_key="a", phase_number=1, user_id="U2", now=NOW)
    with Session(engine) as session:
        assert [tick.ticked_by for tick in session.exec(select(Tick)).all()] == ["U1"]
        assert queries.get_project(session, 1).version == 1  # type: ignore[union-attr]


def test_times_go_in_and_come_out_as_aware_utc(engine: Engine) -> None:
    berlin = datetime(2026, 3, 29, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        project = _project(session)
        queries.add_tick(session, project, item_key="a", phase_number=1, user_id="U1", now=berlin)
    with Session(engine) as session:
        [tick] = queries.list_ticks(session, 1)
        assert tick.ticked_at == berlin and tick.ticked_at.tzinfo == UTC
        assert tick.ticked_at.hour == 1
    with pytest.raises(Exception, match="naive"), session_scope(engine) as session:
        _project(session, channel="C9").started_at = datetime(2026, 1, 1)
        session.flush()


def test_planning_writes_nudges_and_next_due_times_as_given(engine: Engine) -> None:
    # Planning writes thousands of rows in one statement (PostgreSQL: one JSON parameter),
    # so every kind of value must come back as it went in: None, quotes, other zones.
    paris = timezone(timedelta(hours=1))
    later = datetime(2026, 12, 3, 10, 30, tzinfo=paris)
    reason = 'superseded: "a later one" fell due, l\'été \\ ✅'
    with session_scope(engine) as session:
        project = _project(session)
        schedule = Schedule(project_id=project.id or 0, kind="drift", every_days=7)
        session.add(schedule)
        session.flush()
        queries.add_nudges(
            session,
            [
                queries.nudge_row(
                    project.id or 0,
                    kind="drift",
                    due_at=NOW,
                    status="skipped",
                    next_attempt_at=NOW,
                    skip_reason=reason,
                ),
                queries.nudge_row(
                    project.id or 0, kind="drift", due_at=later, status="pending", next_attempt_at=later
                ),
            ],
        )
        queries.store_next_due(
            session, [{"id": schedule.id, "anchor_at": later, "delay_days": 3, "next_due_at": later}]
        )
    with session_scope(engine, read_only=True) as session:
        nudges = session.exec(select(Nudge).order_by(col(Nudge.due_at))).all()
        stored = session.get(Schedule, schedule.id)
    assert [(n.due_at, n.status, n.next_attempt_at, n.skip_reason, n.attempts) for n in nudges] == [
        (NOW, "skipped", NOW, reason, 0),
        (later, "pending", later, None, 0),
    ]
    assert stored is not None
    assert (stored.anchor_at, stored.delay_days, stored.next_due_at) == (later, 3, later)
    with pytest.raises(Exception, match="naive"), session_scope(engine) as session:
        queries.store_next_due(
            session,
            [
                {
                    "id": schedule.id,
                    "anchor_at": None,
                    "delay_days": None,
                    "next_due_at": later.replace(tzinfo=None),
                }
            ],
        )


def test_only_one_worker_claims_a_message(engine: Engine) -> None:
    with session_scope(engine) as session:
        message = queries.add_message(session, _project(session), kind=MessageKind.PHASE, phase_number=1)
    message_id = message.id or 0
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        barrier.wait()
        with session_scope(engine) as session:
            attempt = queries.claim_message(session, message_id, now=NOW, stale_after=timedelta(minutes=2))
            results.append(attempt is not None)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, False, True]

    with session_scope(engine) as session:  # a claim whose worker died is taken over later
        later = NOW + timedelta(minutes=3)
        assert queries.claim_message(session, message_id, now=later, stale_after=timedelta(minutes=2)) == 2
        # The first attempt's post, landing after the second took over, is not recorded over it.
        assert not queries.record_posted(session, message_id, attempt=1, ts="1.000200", version=0)
        assert queries.record_posted(session, message_id, attempt=2, ts="1.000100", version=0)
        assert not queries.record_posted(session, message_id, attempt=2, ts="1.000300", version=0)
        assert session.get(PostedMessage, message_id).ts == "1.000100"  # type: ignore[union-attr]
    with session_scope(engine) as session:  # a posted message is never claimed again
        assert (
            queries.claim_message(session, message_id, now=NOW + timedelta(hours=1), stale_after=timedelta(0))
            is None
        )


def test_deleting_a_project_removes_its_rows(engine: Engine) -> None:
    with session_scope(engine) as session:
        project = _project(session)
        queries.add_tick(session, project, item_key="a", phase_number=1, user_id="U1", now=NOW)
        queries.add_message(session, project, kind=MessageKind.PARENT, ts="1.0")
    with session_scope(engine) as session:
        queries.delete_project(session, 1)
    with Session(engine) as session:
        assert session.exec(select(Tick)).all() == [] and session.exec(select(PostedMessage)).all() == []
        assert queries.list_tick_events(session, 1) == []


def test_upgrading_an_existing_database_makes_each_starter_an_owner(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine, "0002")
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO project (team_id, channel_id, name, checklist, started_by, started_at, status, "
            "current_phase, version, cycle) VALUES ('T1', 'C1', 'Old', 'default', 'UOLD', "
            "'2026-01-05 10:00:00', 'active', 3, 7, 1)"
        )
    upgrade(engine)
    with Session(engine) as session:
        assert queries.list_owners(session, 1) == ["UOLD"]
        project = queries.get_project(session, 1)
        assert project is not None and project.current_phase == 3 and project.bars_committed_at is None
    engine.dispose()


def test_a_read_only_scope_reads_while_a_writer_holds_sqlites_lock(sqlite_url: str) -> None:
    """Messages are drawn in read-only scopes: on SQLite they must not take (or wait for) the write
    lock that a click storing its tick holds until its ack."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with session_scope(engine) as session:
        _project(session)
    with session_scope(engine) as writer:  # BEGIN IMMEDIATE: the write lock, held
        queries.get_project(writer, 1, for_update=True)
        with waiting_at_most(100), session_scope(engine, read_only=True) as reader:
            project = queries.get_project(reader, 1)  # would raise "database is locked" after 100 ms
            assert project is not None
        with pytest.raises(OperationalError), waiting_at_most(100), session_scope(engine) as other:
            queries.get_project(other, 1)  # a writer's scope does wait, and here gives up
    engine.dispose()


def test_marking_messages_stale_updates_only_those_named_and_copies_already_loaded(engine: Engine) -> None:
    with session_scope(engine) as session:
        project = _project(session)
        for kind, phase in ((MessageKind.PARENT, 0), (MessageKind.PHASE, 1), (MessageKind.PHASE, 2)):
            queries.add_message(session, project, kind=kind, phase_number=phase)
    with session_scope(engine) as session:
        stored = queries.get_project(session, 1)
        assert stored is not None
        loaded = queries.list_messages(session, 1)
        stored.version += 1
        queries.mark_messages_stale(
            session, stored, kinds_and_phases=[(MessageKind.PARENT, 0), (MessageKind.PHASE, 2)]
        )
        wanted = {(m.kind, m.phase_number): m.wanted_version for m in loaded}
    assert wanted == {(MessageKind.PARENT, 0): 1, (MessageKind.PHASE, 1): 0, (MessageKind.PHASE, 2): 1}
