"""How fast nudges go out: within Slack's posting limits, whatever the backlog.

chat.postMessage allows about one message per second per channel, with short bursts, and a
workspace-wide limit Slack does not publish (docs: rate limits, "Posting messages"). Ten
thousand drift checks falling due at once must not become ten thousand posts in a minute.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Slack: about one message per second per channel.
CHANNEL_GAP_SECONDS = 1.0


class PostingPace:
    """Hands out posting turns: one per channel per second, and `per_minute` in the workspace.

    Kept by this process: with several replicas, give each its share of the workspace budget
    (NUDGE_POSTS_PER_MINUTE divided by the number of replicas)."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self._gap = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_turn = 0.0
        self._next_in_channel: dict[str, float] = {}

    def wait_turn(self, channel_id: str) -> None:
        """Block the sending thread (never one that must acknowledge) until it may post."""
        with self._lock:
            now = self._clock()
            turn = max(now, self._next_turn, self._next_in_channel.get(channel_id, 0.0))
            self._next_turn = turn + self._gap
            self._next_in_channel[channel_id] = turn + CHANNEL_GAP_SECONDS
            if len(self._next_in_channel) > 1000:  # forget channels whose gap is over
                self._next_in_channel = {c: t for c, t in self._next_in_channel.items() if t > now}
        if turn > now:
            self._sleep(turn - now)

    def posts_within(self, seconds: float) -> int:
        """How many posts the workspace budget allows in `seconds` (at least one)."""
        return max(1, int(seconds / self._gap))
