"""The playground's clock: the wall clock plus however far the user has moved time forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class MovableClock:
    """A `Clock` (bot/core/clock.py) that runs with real time and can jump forward, never back."""

    def __init__(self, offset: timedelta = timedelta(0), *, start: datetime | None = None) -> None:
        # `start` pins "now" to a given moment (the browser tests start on a known weekday).
        self._offset = offset if start is None else start - datetime.now(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def timestamp(self) -> float:
        """Seconds since the epoch, the form the fake Slack's clock takes."""
        return self().timestamp()

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("time only moves forward")
        with self._lock:
            self._offset += delta
