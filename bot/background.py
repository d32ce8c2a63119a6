"""The pool that runs each request's slow part after its ack, with a bound on work waiting for it.

Without a bound, a burst (or a Slack that answers slowly) queues work without limit: memory
grows, and work that finally runs minutes later answers people who have long given up. With
it, a request that finds the pool full is told at once to try again, and nothing is stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

BUSY = "I'm busy right now; try again in a moment."


class Busy(RuntimeError):
    """The background pool holds as much work as it may: running plus waiting."""


class RequestsFirst:
    """Acks before follow-up work. Slack gives a request 3 seconds and every thread here shares
    one interpreter lock, so a job drawing messages slows every request answered meanwhile.
    While requests are coming in (one is being answered, or one ended less than `quiet_seconds`
    ago), jobs start at most `busy_starts_per_second`; otherwise at once. Nothing is dropped:
    jobs only wait their turn."""

    def __init__(
        self,
        busy_starts_per_second: float,
        *,
        quiet_seconds: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._spacing = 1.0 / busy_starts_per_second
        self._quiet = quiet_seconds
        self._clock = clock
        self._changed = threading.Condition()
        self._in_flight = 0
        self._last_answered = float("-inf")
        self._next_busy_start = float("-inf")

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around one request, from its arrival to its response."""
        with self._changed:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._last_answered = self._clock()

    def wait_turn(self) -> None:
        """Before a job: at once when requests are quiet, else at the next free start."""
        with self._changed:
            while True:
                now = self._clock()
                quiet_at = now if not self._in_flight else float("inf")
                quiet_at = max(quiet_at, self._last_answered + self._quiet)
                if now >= quiet_at:
                    return
                if now >= self._next_busy_start:
                    self._next_busy_start = now + self._spacing
                    return
                self._changed.wait(timeout=min(quiet_at, self._next_busy_start) - now)


class BoundedExecutor(Executor):
    """`inner` runs the work; at most `limit` submitted jobs are running or waiting at once.
    With `turns`, each job waits its turn behind the requests being answered (RequestsFirst)."""

    def __init__(self, inner: Executor, limit: int, *, turns: RequestsFirst | None = None) -> None:
        self._inner = inner
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)
        self._turns = turns

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.limit} jobs already running or waiting")
        try:
            future = self._inner.submit(self._in_turn, fn, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _done: self._slots.release())
        return future

    def _in_turn(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        if self._turns is not None:
            self._turns.wait_turn()
        return fn(*args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)
