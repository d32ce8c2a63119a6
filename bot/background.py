"""The pool that runs each request's slow part after its ack, with a bound on work waiting for it.

Without a bound, a burst (or a Slack that answers slowly) queues work without limit: memory
grows, and work that finally runs minutes later answers people who have long given up. With
it, a request that finds the pool full is told at once to try again, and nothing is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")

BUSY = "I'm busy right now; try again in a moment."


class Busy(RuntimeError):
    """The background pool holds as much work as it may: running plus waiting."""


class BoundedExecutor(Executor):
    """`inner` runs the work; at most `limit` submitted jobs are running or waiting at once."""

    def __init__(self, inner: Executor, limit: int) -> None:
        self._inner = inner
        self.limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{self.limit} jobs already running or waiting")
        try:
            future = self._inner.submit(fn, *args, **kwargs)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _done: self._slots.release())
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._inner.shutdown(wait=wait, cancel_futures=cancel_futures)
