"""What keeps acks fast under load: clicks stored together (group commit), SQLite's writers
handed their turn at once with the ack's first, and background jobs giving way to requests."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlmodel import Session, select

from bot.background import RequestsFirst
from storage import queries
from storage.engine import SQLITE_BUSY_TIMEOUT_MS, WriterTurns, make_engine
from storage.group_commit import KEEP_CONNECTION_SECONDS, GroupCommit
from storage.migrate import upgrade
from storage.models import ReceivedClick
from tests.processes import wait_for
from tests.support import FakeClock, other_postgres_sessions


def click(user: str) -> dict[str, object]:
    return {
        "project_id": 1,
        "phase_number": 1,
        "item_key": "narrow-task",
        "seen_version": 1,
        "selected": True,
        "team_id": "T1",
        "channel_id": "C1",
        "user_id": user,
        "received_at": datetime(2026, 11, 28, tzinfo=UTC),
    }


def store_while_the_first_row_is_written(
    database_url: str, others: int, *, refused: frozenset[str] = frozenset(), max_rows: int = 500
) -> tuple[list[list[str]], dict[str, int], dict[str, int]]:
    """One thread stores "UFIRST"; while its transaction is open, `others` threads hand in a
    row each (the rows of users in `refused` lack an item, which the database refuses).
    Returns the batches written (users, in order), the key each thread got (or -1 if its
    store raised IntegrityError), and the key stored for each user."""
    engine = make_engine(database_url)
    upgrade(engine)
    batches: list[list[str]] = []
    first_writing, let_first_finish = threading.Event(), threading.Event()

    def write(connection: Connection, rows: list[dict[str, object]]) -> list[int]:
        batches.append([str(row["user_id"]) for row in rows])
        if len(batches) == 1:
            first_writing.set()
            let_first_finish.wait(timeout=10)
        return queries.receive_clicks(connection, rows)

    group: GroupCommit[dict[str, object], int] = GroupCommit(
        engine, write, lock_wait_ms=2000, max_rows=max_rows
    )
    keys: dict[str, int] = {}

    def store(user: str) -> None:
        row = {**click(user), "item_key": None} if user in refused else click(user)
        try:
            keys[user] = group.store(row)
        except IntegrityError:
            keys[user] = -1

    # Daemon threads: a thread left waiting fails the test instead of hanging it.
    first = threading.Thread(target=store, args=("UFIRST",), daemon=True)
    first.start()
    assert first_writing.wait(timeout=10)
    handing_in = [threading.Thread(target=store, args=(f"U{n:02d}",), daemon=True) for n in range(others)]
    for thread in handing_in:
        thread.start()
    wait_for(lambda: group.handed_in == others, timeout=10, what="the other rows to be handed in")
    let_first_finish.set()
    deadline = time.monotonic() + 10
    for thread in [first, *handing_in]:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    with Session(engine) as session:
        stored = {c.user_id: c.id or 0 for c in session.exec(select(ReceivedClick)).all()}
    engine.dispose()
    return batches, keys, stored


def test_rows_handed_in_together_are_written_in_one_transaction_each_with_its_key(
    database_url: str,
) -> None:
    batches, keys, stored = store_while_the_first_row_is_written(database_url, 19)
    assert batches[0] == ["UFIRST"]
    assert sorted(batches[1]) == [f"U{n:02d}" for n in range(19)]  # one transaction for them all
    assert keys == stored


def test_rows_past_a_batchs_limit_go_in_the_next_batches_each_to_its_own_thread(sqlite_url: str) -> None:
    batches, keys, stored = store_while_the_first_row_is_written(sqlite_url, 18, max_rows=4)
    # Whoever writes takes the next four, in the order they came; nobody is left waiting.
    assert [len(batch) for batch in batches] == [1, 4, 4, 4, 4, 2]
    assert sorted(user for batch in batches[1:] for user in batch) == [f"U{n:02d}" for n in range(18)]
    assert keys == stored and len(stored) == 19


def test_a_row_the_database_refuses_fails_alone_not_the_rows_written_with_it(database_url: str) -> None:
    batches, keys, stored = store_while_the_first_row_is_written(database_url, 3, refused=frozenset({"U01"}))
    assert sorted(batches[1]) == ["U00", "U01", "U02"]  # refused as a batch, then one by one
    assert sorted(batches[2:]) == [["U00"], ["U01"], ["U02"]]
    assert keys["U01"] == -1 and {u: k for u, k in keys.items() if u != "U01"} == stored
    assert sorted(stored) == ["U00", "U02", "UFIRST"]


def test_every_row_of_a_failed_batch_raises_its_error(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)

    def write(connection: Connection, rows: list[str]) -> list[int]:
        connection.execute(text("SELECT * FROM no_such_table"))
        return []

    group: GroupCommit[str, int] = GroupCommit(engine, write, lock_wait_ms=2000)
    with pytest.raises(OperationalError):
        group.store("lost")
    assert group.handed_in == 0
    engine.dispose()


def _checkouts(engine: Engine) -> list[int]:
    """The DBAPI connections the engine's pool hands out, one entry a checkout."""
    seen: list[int] = []
    event.listen(engine, "checkout", lambda dbapi, _record, _proxy: seen.append(id(dbapi)))
    return seen


def test_batches_coming_close_together_share_one_connection_and_an_idle_one_goes_back(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    now = [100.0]
    group: GroupCommit[dict[str, object], int] = GroupCommit(
        engine, queries.receive_clicks, lock_wait_ms=2000, clock=lambda: now[0]
    )
    checkouts = _checkouts(group.engine)
    keys = [group.store(click("UA"))]
    for _ in range(3):
        now[0] += KEEP_CONNECTION_SECONDS  # just within: no checkout, no liveness ping
        keys.append(group.store(click("UA")))
    assert len(checkouts) == 1
    now[0] += KEEP_CONNECTION_SECONDS + 0.01  # idle too long: back to the pool, and out again
    keys.append(group.store(click("UA")))
    assert len(checkouts) == 2
    assert keys == sorted(set(keys))  # five rows, each its own key
    engine.dispose()


def test_a_kept_connection_the_database_dropped_fails_one_batch_or_none(postgres_url: str) -> None:
    """Within the keep window a dropped connection fails the batch using it (its clicks are
    answered "not saved"), and the next batch starts afresh; after it, the pool's ping notices."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    now = [100.0]
    group: GroupCommit[dict[str, object], int] = GroupCommit(
        engine, queries.receive_clicks, lock_wait_ms=2000, clock=lambda: now[0]
    )

    def drop_the_writers_connection() -> None:
        with engine.connect() as admin:
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            admin.commit()

    group.store(click("UA"))
    drop_the_writers_connection()
    with pytest.raises(OperationalError):
        group.store(click("UB"))
    group.store(click("UC"))  # a new connection

    drop_the_writers_connection()
    now[0] += KEEP_CONNECTION_SECONDS + 0.01
    group.store(click("UD"))  # idle: the pool checked the connection it handed out
    with Session(engine) as session:
        assert sorted(c.user_id for c in session.exec(select(ReceivedClick)).all()) == ["UA", "UC", "UD"]
    engine.dispose()


def test_a_batch_is_one_statement_that_commits_itself(database_url: str) -> None:
    """No BEGIN (IMMEDIATE), SET LOCAL or COMMIT for an ack to wait on (round trips on
    PostgreSQL, CPU on SQLite): the batch's one INSERT is committed as it runs, so another
    connection sees its rows before `write` returns."""
    engine = make_engine(database_url)
    upgrade(engine)
    seen_elsewhere: list[int] = []

    def write(connection: Connection, rows: list[dict[str, object]]) -> list[int]:
        keys = queries.receive_clicks(connection, rows)
        other = engine.raw_connection()  # a plain reader, unseen by the engine's events
        try:
            cursor = other.cursor()
            cursor.execute("SELECT count(*) FROM received_click")
            seen_elsewhere.extend(count for (count,) in cursor.fetchall())
        finally:
            other.close()
        return keys

    group: GroupCommit[dict[str, object], int] = GroupCommit(engine, write, lock_wait_ms=2000)
    statements: list[str] = []
    event.listen(group.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    group.store(click("UA"))
    assert seen_elsewhere == [1]
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO received_click")
    engine.dispose()


def test_on_postgresql_batches_of_any_size_are_one_statement_text_each_row_getting_its_key(
    postgres_url: str,
) -> None:
    """psycopg parses a statement's placeholders in Python and keeps what it parsed only for
    statements of up to 50 parameters: a text of its own for each batch size, ten parameters a
    click, was parsed anew for every batch of six clicks or more while their acks waited."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    stored: dict[int, str] = {}
    for size in (1, 12):
        rows = [click(f"U{size}-{n}") for n in range(size)]
        with engine.begin() as connection:
            keys = queries.receive_clicks(connection, rows)
        stored.update(zip(keys, [str(row["user_id"]) for row in rows], strict=True))
    assert len(statements) == 2 and statements[0] == statements[1]
    with Session(engine) as session:
        assert {c.id: c.user_id for c in session.exec(select(ReceivedClick)).all()} == stored
    engine.dispose()


@pytest.mark.parametrize("user", ["U\ud800", "U\x00"], ids=["lone surrogate", "NUL"])
def test_on_postgresql_text_it_cannot_store_is_refused_as_data_so_its_row_fails_alone(
    postgres_url: str, user: str
) -> None:
    """A signed payload's "\\ud800" decodes to a lone surrogate. Refused as data, the group
    commit writes the batch's rows one by one and only that click fails; psycopg's encoder once
    raised a StatementError for it, which failed every click of the batch."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    with engine.connect() as connection, pytest.raises(DataError), connection.begin():
        queries.receive_clicks(connection, [click("UA"), click(user)])
    engine.dispose()


def test_on_postgresql_a_value_too_long_for_its_column_is_refused_not_cut_short(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    group: GroupCommit[dict[str, object], int] = GroupCommit(
        engine, queries.receive_clicks, lock_wait_ms=2000
    )
    with pytest.raises(DataError):
        group.store({**click("UA"), "item_key": "k" * 41})
    with Session(engine) as session:
        assert session.exec(select(ReceivedClick)).all() == []
    engine.dispose()


def test_on_sqlite_a_batch_commits_on_a_connection_once_given_an_isolation_level(sqlite_url: str) -> None:
    """SQLAlchemy's reset of a pooled connection given an isolation level turns pysqlite's own
    transactions back on: the batch's INSERT would then open one and keep holding the write
    lock (the gate's transactions found the database locked). The pool turns them off again."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("SELECT 1"))
    group: GroupCommit[dict[str, object], int] = GroupCommit(
        engine, queries.receive_clicks, lock_wait_ms=2000
    )
    group.store(click("UA"))
    assert group._connection is not None  # the connection given an isolation level, back from the pool
    assert group._connection.connection.driver_connection.isolation_level is None  # type: ignore[union-attr]
    other_writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
    try:
        other_writer.execute("BEGIN IMMEDIATE")  # at once: nobody holds the write lock
        assert other_writer.execute("SELECT count(*) FROM received_click").fetchone() == (1,)
        other_writer.execute("ROLLBACK")
    finally:
        other_writer.close()
    group.close()
    engine.dispose()


def store_while_locked(
    group: GroupCommit[dict[str, object], int], lock: AbstractContextManager[object]
) -> list[BaseException | int]:
    """Store a click from another thread while `lock` holds the database's lock; returns what
    the store returned or raised, once it gave up (it must, well within 10 s)."""
    outcome: list[BaseException | int] = []

    def store() -> None:
        try:
            outcome.append(group.store(click("UA")))
        except BaseException as error:
            outcome.append(error)

    with lock:
        storing = threading.Thread(target=store, daemon=True)
        storing.start()
        storing.join(timeout=10)
    assert not storing.is_alive(), "the batch waited for the lock far longer than its lock wait"
    return outcome


@contextmanager
def sqlite_write_lock(sqlite_url: str) -> Iterator[None]:
    """Another program holds SQLite's write lock."""
    other_writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other_writer.execute("COMMIT")
        other_writer.close()


@contextmanager
def postgresql_table_lock(engine: Engine) -> Iterator[None]:
    """Another program holds the clicks' table (a migration, say)."""
    with engine.connect() as migration:
        migration.execute(text("LOCK TABLE received_click IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            migration.rollback()


def test_on_sqlite_a_batch_waits_at_most_its_lock_wait_for_the_write_lock(sqlite_url: str) -> None:
    """Another program holding the write lock: the batch gives up after its lock wait (the
    click is answered "not saved" within Slack's 3 seconds), not after the 30 s other writers
    wait, and the connection's next transaction waits as long as those do again."""
    engine = make_engine(sqlite_url)
    upgrade(engine)
    group: GroupCommit[dict[str, object], int] = GroupCommit(engine, queries.receive_clicks, lock_wait_ms=200)
    outcome = store_while_locked(group, sqlite_write_lock(sqlite_url))
    assert len(outcome) == 1 and isinstance(outcome[0], OperationalError)
    assert isinstance(group.store(click("UB")), int)  # the lock is gone: stored
    group.close()
    with engine.connect() as connection:  # the connection the batches used, back in the pool
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == SQLITE_BUSY_TIMEOUT_MS
    engine.dispose()


def test_on_postgresql_a_batch_waits_at_most_its_lock_wait_for_a_lock(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    group: GroupCommit[dict[str, object], int] = GroupCommit(engine, queries.receive_clicks, lock_wait_ms=200)
    outcome = store_while_locked(group, postgresql_table_lock(engine))
    assert len(outcome) == 1 and isinstance(outcome[0], OperationalError)
    assert isinstance(group.store(click("UB")), int)  # the lock is gone: stored
    engine.dispose()


def test_closing_a_group_commit_leaves_no_connection_open(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    group: GroupCommit[dict[str, object], int] = GroupCommit(
        engine, queries.receive_clicks, lock_wait_ms=2000
    )
    group.store(click("UA"))
    engine.dispose()
    group.close()
    assert other_postgres_sessions(postgres_url) == 0


def test_a_writer_an_ack_waits_for_goes_before_background_writers_queued_earlier() -> None:
    turns = WriterTurns()
    assert turns.acquire(urgent=False, timeout_seconds=1)  # a background transaction holds it
    order: list[str] = []

    def writer(name: str, urgent: bool) -> None:
        assert turns.acquire(urgent=urgent, timeout_seconds=10)
        order.append(name)
        turns.release()

    background = threading.Thread(target=writer, args=("background", False))
    background.start()
    wait_for(lambda: turns.waiting == 1, timeout=10, what="the background writer to queue")
    ack = threading.Thread(target=writer, args=("ack", True))
    ack.start()
    wait_for(lambda: turns.waiting == 2, timeout=10, what="the ack's writer to queue")
    turns.release()
    for thread in (background, ack):
        thread.join(timeout=10)
    assert order == ["ack", "background"]


def test_a_writer_that_waits_past_its_limit_gives_up() -> None:
    turns = WriterTurns()
    assert turns.acquire(urgent=False, timeout_seconds=1)
    assert not turns.acquire(urgent=True, timeout_seconds=0.01)
    assert turns.waiting == 0


def test_jobs_start_at_once_when_requests_are_quiet_and_take_turns_while_they_come() -> None:
    clock = FakeClock()
    turns = RequestsFirst(5, quiet_seconds=0.02, clock=lambda: clock().timestamp())
    started: list[str] = []

    def job(name: str) -> threading.Thread:
        def run() -> None:
            turns.wait_turn()
            started.append(name)

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    job("quiet").join(timeout=5)
    assert started == ["quiet"]
    with turns.answering():  # a request is being answered
        job("first while busy").join(timeout=5)  # the first start of this second
        waiting = job("second while busy")
        waiting.join(timeout=0.2)
        assert waiting.is_alive() and started == ["quiet", "first while busy"]
        clock.advance(timedelta(seconds=0.2))  # the next start
        waiting.join(timeout=5)
        assert started[-1] == "second while busy"
        waiting = job("third while busy")
        waiting.join(timeout=0.2)
        assert waiting.is_alive()
    clock.advance(timedelta(seconds=0.021))  # requests went quiet
    waiting.join(timeout=5)
    assert started[-1] == "third while busy"
