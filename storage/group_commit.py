"""Rows that many threads store at once, written by one statement that commits itself.

Twenty requests storing a click each would take twenty turns at SQLite's single write lock,
and twenty flushes of its log, each slowed by every other thread wanting the interpreter
meanwhile. Here the first thread to arrive writes what every thread has handed in by then, in
one statement, while the next ones gather for the following one ("group commit"). A thread's
`store` returns once its row is committed, or raises what the statement raised.

The writer keeps its connection from one batch to the next while batches keep coming: a
session, and a pool checkout with its liveness ping, cost more than the insert itself, and a
click's ack waits for all of it. A connection idle for `KEEP_CONNECTION_SECONDS` goes back to
the pool, so a database restarted meanwhile is noticed by the pool's ping, not by a click.

No transaction is begun around the statement, which commits itself: on PostgreSQL the
connections come from an autocommit engine (statement_commits_engine), one round trip where a
transaction takes four; on SQLite the statement runs outside a transaction (statement_on),
where BEGIN IMMEDIATE and COMMIT cost more CPU than the insert. A click's ack waits for each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, IntegrityError

from storage.engine import statement_commits_engine, statement_on, waiting_at_most

Row = TypeVar("Row")
Key = TypeVar("Key")

# Batches coming closer together than this share one connection.
KEEP_CONNECTION_SECONDS = 1.0


class _Latch:
    """`wait` returns once `open` has been called, at once if it was already; opening an open
    latch does nothing. One thread waits on a latch, once. A bare lock: its waiter wakes once,
    where an Event's waiter wakes and then queues again for the Event's own lock, and every
    wake-up is a turn at the interpreter lock that twenty threads want."""

    def __init__(self) -> None:
        self._shut = threading.Lock()
        self._shut.acquire()

    def open(self) -> None:
        with suppress(RuntimeError):  # already open: releasing an unlocked lock raises, atomically
            self._shut.release()

    def wait(self) -> None:
        self._shut.acquire()


@dataclass
class _Handed(Generic[Row, Key]):
    row: Row
    done: bool = False
    key: Key | None = None
    error: BaseException | None = None
    # Opened when the row is written, or when its thread is to write the next batch. One latch
    # a row: a commit wakes only the threads it concerns, not every thread waiting.
    woken: _Latch = field(default_factory=_Latch)


class GroupCommit(Generic[Row, Key]):
    """`write(connection, rows)` stores rows in the order given, with one statement, and returns
    their keys in that order: one statement, which commits itself. It waits at most
    `lock_wait_ms` for the database's lock. `clock` (seconds) tells how long the kept
    connection has been idle."""

    def __init__(
        self,
        engine: Engine,
        write: Callable[[Connection, list[Row]], list[Key]],
        *,
        lock_wait_ms: int,
        max_rows: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # PostgreSQL: connections of an autocommit engine of their own; SQLite: the bot's engine.
        self._statement_commits = statement_commits_engine(engine, lock_wait_ms)
        self.engine = self._statement_commits or engine  # where the writer's connections come from
        self._clock = clock
        # Only the thread writing a batch touches these (one writes at a time).
        self._connection: Connection | None = None
        self._last_used = 0.0
        self._write = write
        self._lock_wait_ms = lock_wait_ms
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._handed: list[_Handed[Row, Key]] = []
        self._writing = False

    @property
    def handed_in(self) -> int:
        """Rows handed in and waiting for a batch (not those being written)."""
        with self._lock:
            return len(self._handed)

    def store(self, row: Row) -> Key:
        mine: _Handed[Row, Key] = _Handed(row)
        with self._lock:
            self._handed.append(mine)
            writing, self._writing = self._writing, True
        if writing:  # another thread writes: wait for this row to be written, or for its turn
            mine.woken.wait()
        if not mine.done:
            # This thread writes what is handed in (its own row, unless more than a batch came
            # before it: then it writes those and goes round again), then hands the writing on.
            while not mine.done:
                with self._lock:
                    batch, self._handed = self._handed[: self._max_rows], self._handed[self._max_rows :]
                self._commit(batch)
            with self._lock:
                if self._handed:
                    self._handed[0].woken.open()
                else:
                    self._writing = False
        if mine.error is not None:
            raise mine.error
        assert mine.key is not None
        return mine.key

    def _commit(self, batch: list[_Handed[Row, Key]]) -> None:
        try:
            kept = self._connection_for_batch()
            rows = [handed.row for handed in batch]
            if self._statement_commits is not None:
                # No BEGIN nor COMMIT reaches the database: the block only keeps SQLAlchemy's
                # account of the connection straight when the statement fails.
                with kept.begin():
                    keys = self._write(kept, rows)
            else:
                with waiting_at_most(self._lock_wait_ms), statement_on(kept) as connection:
                    keys = self._write(connection, rows)
            for handed, key in zip(batch, keys, strict=True):
                handed.key = key
        except (DataError, IntegrityError) as error:
            # One row the database refuses must not fail the rows that came with it: each is
            # written alone, and only the refused one fails.
            if len(batch) == 1:
                batch[0].error = error
            else:
                for handed in batch:
                    self._commit([handed])
        except BaseException as error:  # the database itself failed: the batch shares its fate
            for handed in batch:
                handed.error = error
        finally:
            self._last_used = self._clock()
            for handed in batch:
                handed.done = True
                handed.woken.open()

    def close(self) -> None:
        """After the last `store`: give back the kept connection and, on PostgreSQL, close the
        autocommit engine's connections, which nothing else owns."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._statement_commits is not None:
            self._statement_commits.dispose()

    def _connection_for_batch(self) -> Connection:
        if self._connection is not None and self._clock() - self._last_used > KEEP_CONNECTION_SECONDS:
            self._connection.close()
            self._connection = None
        if self._connection is None:
            self._connection = self.engine.connect()
        return self._connection
