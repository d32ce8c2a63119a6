"""Finding a message the bot may already have posted, by the id it carries in Slack's metadata.

A worker can die after Slack accepted a post and before the database recorded it. Whoever
retries reads the thread (or channel) back first, so that the post is adopted, not sent twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

MAX_PAGES = 20


def find_in_thread(
    slack: WebClient, channel: str, thread_ts: str, event_type: str, key: str, value: int
) -> str | None:
    """The ts of the thread's message whose metadata says `event_type` with `key` == `value`."""

    def page(cursor: str | None) -> Any:
        return slack.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
        )

    return _find(page, event_type, key, value)


def find_in_channel(
    slack: WebClient, channel: str, event_type: str, key: str, value: int, *, oldest: float
) -> str | None:
    """The ts of a top-level message posted since `oldest` whose metadata matches."""

    def page(cursor: str | None) -> Any:
        return slack.conversations_history(
            channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200, cursor=cursor
        )

    return _find(page, event_type, key, value)


def _find(page: Callable[[str | None], Any], event_type: str, key: str, value: int) -> str | None:
    cursor = None
    for _ in range(MAX_PAGES):
        response = page(cursor)
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == event_type
                and (metadata.get("event_payload") or {}).get(key) == value
            ):
                return str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None
