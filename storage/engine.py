"""Engines and sessions for SQLite (embedded default) and PostgreSQL (several replicas)."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 30_000
# How long a transaction begun in this context may wait for a lock (see waiting_at_most).
_LOCK_WAIT_MS: ContextVar[int | None] = ContextVar("lock_wait_ms", default=None)
# Set while a read-only session_scope begins its transaction: on SQLite it takes no write lock.
_READ_ONLY: ContextVar[bool] = ContextVar("read_only", default=False)


# Connections per process: every request thread, background job and timer may hold one at once,
# and a request waiting for a free connection would wait on background work. PostgreSQL's
# default max_connections (100) leaves room for three replicas at most 30 each.
POOL_SIZE = 10
POOL_OVERFLOW = {"sqlite": 40, "postgresql": 20}


class WriterTurns:
    """SQLite allows one writer at a time. Left to SQLite, a writer that finds the lock taken
    sleeps in steps of up to 100 ms and retries; queued here instead, it is woken the moment
    the writer before it ends, and a transaction a request's ack waits on (one begun inside
    `waiting_at_most`) goes before the background's. Other processes on the same file still
    queue in SQLite's own way."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._urgent_waiting = 0
        self._waiting = 0

    @property
    def waiting(self) -> int:
        with self._changed:
            return self._waiting

    def acquire(self, *, urgent: bool, timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        with self._changed:
            self._urgent_waiting += urgent
            self._waiting += 1
            try:
                while self._held or (not urgent and self._urgent_waiting):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._changed.wait(remaining)
                self._held = True
                return True
            finally:
                self._urgent_waiting -= urgent
                self._waiting -= 1

    def release(self) -> None:
        with self._changed:
            self._held = False
            self._changed.notify_all()


_WRITER_TURNS: weakref.WeakKeyDictionary[Engine, WriterTurns] = weakref.WeakKeyDictionary()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **engine_options: Any) -> Engine:
    in_memory = url.split("?")[0] in {"sqlite://", "sqlite:///:memory:"}
    if not in_memory:  # (an in-memory database has one connection, shared)
        overflow = POOL_OVERFLOW["sqlite" if is_sqlite(url) else "postgresql"]
        engine_options = {"pool_size": POOL_SIZE, "max_overflow": overflow, **engine_options}
    if not is_sqlite(url):
        engine = create_engine(url, pool_pre_ping=True, **engine_options)

        @event.listens_for(engine, "begin")
        def _bounded_lock_wait(connection: Any) -> None:
            wait_ms = _LOCK_WAIT_MS.get()
            if wait_ms is not None:
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(wait_ms)}")

        return engine

    engine = create_engine(url, connect_args={"check_same_thread": False}, **engine_options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's deferred BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")  # first: the next one may wait
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _transactions_stay_ours(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy resets a connection once given an isolation level (execution_options)
        # before this, and its reset turns pysqlite's own BEGIN back on: a statement meant to
        # commit itself (statement_on) would then open a transaction, and keep the write lock.
        if dbapi_connection is not None:
            dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        # A deferred BEGIN that later writes can fail with "database is locked" when two
        # writers upgrade at once; taking the write lock up front makes them queue instead.
        _wait_for_the_write_lock_as_wanted(connection)
        # A read-only scope reads a WAL snapshot: it neither waits for the writer nor holds it up.
        connection.exec_driver_sql("BEGIN" if _READ_ONLY.get() else "BEGIN IMMEDIATE")

    if not in_memory:
        _WRITER_TURNS[engine] = WriterTurns()
    return engine


def _wait_for_the_write_lock_as_wanted(connection: Connection) -> None:
    """SQLite's busy timeout on this connection: `waiting_at_most`'s, else the default. Set
    through the driver: a statement through SQLAlchemy would begin a transaction."""
    wanted = _LOCK_WAIT_MS.get() or SQLITE_BUSY_TIMEOUT_MS
    if connection.info.get("busy_timeout", SQLITE_BUSY_TIMEOUT_MS) != wanted:
        connection.connection.driver_connection.execute(f"PRAGMA busy_timeout={int(wanted)}")  # type: ignore[union-attr]
        connection.info["busy_timeout"] = wanted


def statement_commits_engine(engine: Engine, lock_wait_ms: int) -> Engine | None:
    """On PostgreSQL, an engine for the same database whose connections commit each statement
    as it runs (autocommit) and wait at most `lock_wait_ms` for a lock; None on SQLite.

    A write that is one statement needs no transaction of its own around it: PostgreSQL makes
    the statement atomic. In a transaction it costs four round trips (BEGIN, SET LOCAL
    lock_timeout, the statement, COMMIT); here one. The lock timeout is set when each
    connection opens, and the connections stay in this engine's own pool (one connection,
    for one writer at a time), so neither setting reaches a connection the rest of the bot uses.
    """
    if engine.dialect.name == "sqlite":
        return None
    statements = create_engine(
        engine.url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0, pool_pre_ping=True
    )

    @event.listens_for(statements, "connect")
    def _bounded_lock_wait(dbapi_connection: Any, _record: Any) -> None:
        # A SET rather than a startup option, which connection poolers such as PgBouncer refuse;
        # committed, in case the connection is not in autocommit yet.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET lock_timeout = {int(lock_wait_ms)}")
        cursor.close()
        dbapi_connection.commit()

    return statements


def ping(engine: Engine) -> None:
    """Check the database answers, without a transaction: on SQLite every transaction here
    takes the write lock (BEGIN IMMEDIATE, above), and a health check must never queue behind
    writers, nor writers behind it. A bare SELECT in autocommit mode is a WAL reader."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT 1")
        cursor.fetchall()
        cursor.close()
    finally:
        connection.close()


@contextmanager
def session_scope(engine: Engine, *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error.

    `read_only` (rendering a message, listing what is stale): on SQLite the transaction takes no
    write lock, so a click storing its tick never waits while a message is drawn. Writing in it
    is a bug: SQLite would refuse the write whenever another writer holds the lock."""
    turn = nullcontext() if read_only else _writer_turn(engine)
    with turn, Session(engine, expire_on_commit=False) as session:
        if read_only:
            token = _READ_ONLY.set(True)
            try:
                session.connection()  # begin now, while the flag is set (for this transaction only)
            finally:
                _READ_ONLY.reset(token)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def statement_on(connection: Connection) -> Iterator[Connection]:
    """A SQLite connection its owner keeps (the group commit's: no session, and no pool checkout
    and liveness ping each time), for one writing statement that commits itself.

    The statement gets this process's turn at the write lock and waits for the lock as
    `waiting_at_most` says, as a transaction here would. It needs no BEGIN IMMEDIATE nor COMMIT
    around it: a statement run outside a transaction is one, committed when it ends, and a
    writing statement takes the write lock before it reads anything. The two statements cost
    a click's ack more CPU than its insert. A writer that ran more than one statement through
    SQLAlchemy began a transaction: it is committed on success, rolled back on any error."""
    with _writer_turn(connection.engine):
        _wait_for_the_write_lock_as_wanted(connection)
        try:
            yield connection
        except BaseException:
            if connection.in_transaction():
                connection.rollback()
            raise
        if connection.in_transaction():
            connection.commit()


@contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """On SQLite, this process's turn at the write lock (WriterTurns); elsewhere nothing."""
    turns = _WRITER_TURNS.get(engine)
    if turns is None:
        yield
        return
    wait_ms = _LOCK_WAIT_MS.get()
    urgent = wait_ms is not None
    if not turns.acquire(urgent=urgent, timeout_seconds=(wait_ms or SQLITE_BUSY_TIMEOUT_MS) / 1000):
        raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
    try:
        yield
    finally:
        turns.release()


@contextmanager
def waiting_at_most(milliseconds: int) -> Iterator[None]:
    """Transactions begun inside wait at most this long for a lock, then fail with
    OperationalError (SQLite: database is locked; PostgreSQL: lock timeout), instead of queueing."""
    token = _LOCK_WAIT_MS.set(milliseconds)
    try:
        yield
    finally:
        _LOCK_WAIT_MS.reset(token)
