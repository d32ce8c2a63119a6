"""What every listener does the same way: read who clicked where, and answer that user only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, Respond

from bot.background import BUSY, BoundedExecutor, Busy

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on my side and nothing was changed. Please try again."

# "Busy" replies go out from threads of their own: the listener's thread answers Slack's
# request, and a slow response_url must never delay that answer. When even these are all
# taken, the reply is dropped (and logged): the bot is overloaded, and the ack still goes.
_BUSY_REPLIES = BoundedExecutor(ThreadPoolExecutor(max_workers=2, thread_name_prefix="busy-reply"), 100)


class _Refusals:
    """Jobs a full pool refused, logged at most once every `every_seconds` with their count:
    a burst past the pool would otherwise write a line for every click, while it is busiest."""

    def __init__(self, every_seconds: float) -> None:
        self._every = every_seconds
        self._lock = threading.Lock()
        self._count = 0
        self._logged_at = float("-inf")

    def refused(self, what: str) -> None:
        with self._lock:
            self._count += 1
            now = time.monotonic()
            if now - self._logged_at < self._every:
                return
            count, self._count, self._logged_at = self._count, 0, now
        log.warning("background pool full: %s refused (%s refused since the last warning)", what, count)


_POOL_FULL = _Refusals(every_seconds=10)


def origin(body: dict[str, Any]) -> tuple[str, str, str]:
    """(team, channel, user) of an interaction payload; empty strings where Slack sent none."""
    return tuple(str((body.get(key) or {}).get("id") or "") for key in ("team", "channel", "user"))  # type: ignore[return-value]


def reply_privately(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def run_and_reply(
    background: Executor,
    respond: Respond,
    work: Callable[[], str | None],
    what: str,
    *,
    busy: str | None = BUSY,
) -> None:
    """Hand the work to the background pool, after ack(); its answer, or a short apology, goes
    to the user alone. Bolt waits for ack() on its own listener pool: slow Slack calls kept
    there would leave later requests waiting for a free thread before they can even ack.
    When the pool is full the work is not done, and the user is told `busy`, if anything
    (a click stored before its ack is applied by the scheduler's beat: nothing to say)."""
    try:
        background.submit(_replying(respond, work, what))
    except Busy:  # rather than queue without end
        _POOL_FULL.refused(what)
        if busy:
            _reply_aside(respond, busy)


def ack_and_run(
    ack: Ack, background: Executor, respond: Respond, work: Callable[[], str | None], what: str
) -> None:
    """For slash commands, whose ack can carry text: the work is handed on first, so a full
    pool is answered in the ack itself, with no further call to Slack."""
    try:
        background.submit(_replying(respond, work, what))
    except Busy:
        _POOL_FULL.refused(what)
        ack(text=BUSY, response_type="ephemeral")
        return
    ack()


def _replying(respond: Respond, work: Callable[[], str | None], what: str) -> Callable[[], None]:
    def run() -> None:
        try:
            reply = work()
        except Exception:
            log.exception("%s failed", what)
            reply = UNEXPECTED
        if reply:
            reply_privately(respond, reply)

    return run


def _reply_aside(respond: Respond, text: str) -> None:
    try:
        _BUSY_REPLIES.submit(reply_privately, respond, text)
    except Busy:
        log.warning("too busy even to say so; a reply was dropped")
