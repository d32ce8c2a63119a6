"""Run a function after a delay, on a pool: how redraws wait out Slack's pace without a thread each."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

log = logging.getLogger(__name__)


class Later(Protocol):
    def __call__(self, delay_seconds: float, work: Callable[[], None]) -> None: ...


class Timers:
    """One daemon thread keeps the due times; the work itself runs on `pool` when due."""

    def __init__(self, pool: Executor) -> None:
        self._pool = pool
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def __call__(self, delay_seconds: float, work: Callable[[], None]) -> None:
        with self._changed:
            heapq.heappush(self._due, (time.monotonic() + delay_seconds, next(self._order), work))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
                self._thread.start()
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._changed.wait(self._due[0][0] - time.monotonic() if self._due else None)
                _, _, work = heapq.heappop(self._due)
            try:
                self._pool.submit(_logged, work)
            except RuntimeError:  # the pool is shutting down: so is the bot
                return


def _logged(work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:
        log.exception("deferred %s failed", getattr(work, "__name__", "work"))


def run_soon(delay_seconds: float, work: Callable[[], None]) -> None:
    """A Later for code built without a pool: a timer thread of its own per call."""
    timer = threading.Timer(delay_seconds, work)
    timer.daemon = True
    timer.start()
