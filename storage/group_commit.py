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
    error: BaseException | None = field(default=None)


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
        self._changed = threading.Condition()
        self._handed: list[_Handed[Row, Key]] = []
        self._writing = False

    @property
    def handed_in(self) -> int:
        """Rows handed in and waiting for a transaction (not those being written)."""
        with self._changed:
            return len(self._handed)

    def store(self, row: Row) -> Key:
        mine: _Handed[Row, Key] = _Handed(row)
        with self._changed:
            self._handed.append(mine)
        while True:
            with self._changed:
                while self._writing and not mine.done:
                    self._changed.wait()
                if mine.done:
                    break
                # Nobody is writing: this thread writes what is handed in (its own row, unless
                # more than a batch came before it: then it writes those and goes round again).
                self._writing = True
                batch, self._handed = self._handed[: self._max_rows], self._handed[self._max_rows :]
            self._commit(batch)
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
            with self._changed:
                for handed in batch:
                    handed.done = True
                self._writing = False
                self._changed.notify_all()
