"""Finding a message the bot may already have posted, by the id it carries in Slack's metadata.

A worker can die after Slack accepted a post and before the database recorded it. Whoever
retries reads the thread (or channel) back first, so that the post is adopted, not sent twice.
Only the bot's own posts are adopted: any app in the workspace can post a message carrying the
same metadata, so a message counts only when Slack says this bot (this app) posted it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

MAX_PAGES = 20
# Read-back refusals that no retry fixes until someone acts (invites the bot, reinstalls it).
CANNOT_READ = frozenset({"not_in_channel", "missing_scope"})


class ReadBackError(SlackClientError):
    """Slack will not let the bot read its own thread back, so nobody can tell whether an
    earlier attempt already posted: posting again could post twice."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot read the thread back: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is in Slack, as `auth.test` says; fields Slack did not send are empty."""

    user_id: str
    bot_id: str
    app_id: str

    def posted(self, message: dict[str, Any]) -> bool:
        """Whether this bot posted `message`: its bot id (or, lacking one, its user) and its app."""
        if self.bot_id:
            if message.get("bot_id") != self.bot_id:
                return False
        elif not self.user_id or message.get("user") != self.user_id:
            return False
        return not (self.app_id and message.get("app_id") not in (None, self.app_id))


_identities: weakref.WeakKeyDictionary[WebClient, BotIdentity] = weakref.WeakKeyDictionary()
_identities_lock = threading.Lock()


def bot_identity(slack: WebClient) -> BotIdentity:
    """The client's bot identity: one `auth.test` per client, then cached (it never changes)."""
    with _identities_lock:
        known = _identities.get(slack)
    if known is not None:
        return known
    answer = slack.auth_test()
    identity = BotIdentity(
        user_id=str(answer.get("user_id") or ""),
        bot_id=str(answer.get("bot_id") or ""),
        app_id=str(answer.get("app_id") or ""),
    )
    with _identities_lock:
        _identities[slack] = identity
    return identity


def find_in_thread(
    slack: WebClient, channel: str, thread_ts: str, event_type: str, key: str, value: int
) -> list[str]:
    """The ts of every message of the bot's in the thread whose metadata says `event_type` with `key` ==
    `value`, oldest first: more than one means a post landed twice."""

    def page(cursor: str | None) -> Any:
        return slack.conversations_replies(
            channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
        )

    return list(_matching(slack, page, event_type, key, value))


def find_in_channel(
    slack: WebClient, channel: str, event_type: str, key: str, value: int, *, oldest: float
) -> str | None:
    """The ts of the bot's top-level message posted since `oldest` whose metadata matches."""

    def page(cursor: str | None) -> Any:
        return slack.conversations_history(
            channel=channel, oldest=f"{oldest:.6f}", include_all_metadata=True, limit=200, cursor=cursor
        )

    return next(_matching(slack, page, event_type, key, value), None)


def _matching(
    slack: WebClient, page: Callable[[str | None], Any], event_type: str, key: str, value: int
) -> Iterator[str]:
    me = bot_identity(slack)
    cursor = None
    for _ in range(MAX_PAGES):
        response = _read(page, cursor)
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == event_type
                and (metadata.get("event_payload") or {}).get(key) == value
                and me.posted(message)
            ):
                yield str(message["ts"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return


def _read(page: Callable[[str | None], Any], cursor: str | None) -> Any:
    try:
        return page(cursor)
    except SlackApiError as error:
        reason = str(error.response.get("error", "unknown_error"))
        if reason in CANNOT_READ:
            raise ReadBackError(reason) from error
        raise
