"""Rows that many threads store at once, written in one transaction.

Twenty requests storing a click each would take twenty turns at SQLite's single write lock,
each turn a BEGIN, an INSERT and a COMMIT, and each slowed by every other thread wanting the
interpreter meanwhile. Here the first thread to arrive writes what every thread has handed in
by then, in one transaction, while the next ones gather for the following one ("group commit").
A thread's `store` returns once its row is committed, or raises what the transaction raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from storage.engine import session_scope, waiting_at_most

Row = TypeVar("Row")
Key = TypeVar("Key")


@dataclass
class _Handed(Generic[Row, Key]):
    row: Row
    done: bool = False
    key: Key | None = None
    error: BaseException | None = None
    # Set when the row is written, or when its thread is to write the next batch. One event a
    # row: a commit wakes only the threads it concerns, not every thread waiting.
    woken: threading.Event = field(default_factory=threading.Event)


class GroupCommit(Generic[Row, Key]):
    """`write(session, rows)` stores rows in the order given and returns their keys in that
    order; it runs in a transaction that waits at most `lock_wait_ms` for the database's lock."""

    def __init__(
        self,
        engine: Engine,
        write: Callable[[Session, list[Row]], list[Key]],
        *,
        lock_wait_ms: int,
        max_rows: int = 500,
    ) -> None:
        self._engine = engine
        self._write = write
        self._lock_wait_ms = lock_wait_ms
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._handed: list[_Handed[Row, Key]] = []
        self._writing = False

    @property
    def handed_in(self) -> int:
        """Rows handed in and waiting for a transaction (not those being written)."""
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
                    self._handed[0].woken.set()
                else:
                    self._writing = False
        if mine.error is not None:
            raise mine.error
        assert mine.key is not None
        return mine.key

    def _commit(self, batch: list[_Handed[Row, Key]]) -> None:
        try:
            with waiting_at_most(self._lock_wait_ms), session_scope(self._engine) as session:
                keys = self._write(session, [handed.row for handed in batch])
            for handed, key in zip(batch, keys, strict=True):
                handed.key = key
        except BaseException as error:  # every row of the batch shares its transaction's fate
            for handed in batch:
                handed.error = error
        finally:
            for handed in batch:
                handed.done = True
                handed.woken.set()
