"""What every listener does the same way: read who clicked where, and answer that user only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from slack_bolt import Respond

from bot.background import BUSY, Busy

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong on my side and nothing was changed. Please try again."


def origin(body: dict[str, Any]) -> tuple[str, str, str]:
    """(team, channel, user) of an interaction payload; empty strings where Slack sent none."""
    return tuple(str((body.get(key) or {}).get("id") or "") for key in ("team", "channel", "user"))  # type: ignore[return-value]


def reply_privately(respond: Respond, text: str) -> None:
    respond(text=text, response_type="ephemeral", replace_original=False)


def run_and_reply(background: Executor, respond: Respond, work: Callable[[], str | None], what: str) -> None:
    """Hand the work to the background pool, after ack(); its answer, or a short apology, goes
    to the user alone. Bolt waits for ack() on its own listener pool: slow Slack calls kept
    there would leave later requests waiting for a free thread before they can even ack."""

    def run() -> None:
        try:
            reply = work()
        except Exception:
            log.exception("%s failed", what)
            reply = UNEXPECTED
        if reply:
            reply_privately(respond, reply)

    try:
        background.submit(run)
    except Busy:  # nothing was done: say so now rather than queue without end
        log.warning("background pool full: %s refused", what)
        reply_privately(respond, BUSY)
