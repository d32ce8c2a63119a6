"""What Slack would read as a mention, a channel ping or a link in what the bot sends."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_SEQUENCE = re.compile(r"<([^<>]*)>")
# The dates the bot writes: <!date^1700000000^{date_short_pretty} at {time}|2026-11-27 10:00 UTC>
_DATE = re.compile(r"^!date\^\d+\^\{date_short_pretty\} at \{time\}\|\d{4}-\d\d-\d\d \d\d:\d\d UTC$")


def mrkdwn_texts(payload: Any) -> Iterator[str]:
    """Every text Slack parses as mrkdwn in a message, a response_url body or a view: a
    message's top-level `text`, and every `mrkdwn` text object at any depth (plain_text is not
    parsed, so user text may stand there as typed)."""
    if isinstance(payload, dict):
        if isinstance(payload.get("text"), str) and payload.get("type") in (None, "mrkdwn"):
            yield payload["text"]
        for key, value in payload.items():
            if key != "text" or not isinstance(value, str):
                yield from mrkdwn_texts(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from mrkdwn_texts(item)


def planted_sequences(text: str, *, users: Iterable[str] = (), links: Iterable[str] = ()) -> list[str]:
    """Control sequences in `text` that the bot did not mean to write: anything but mentions of
    `users`, its own dates, and links starting with one of `links`. Also any `&` that is not one of the three
    escapes, since Slack would read `&lt;` typed by a user as `<`."""
    allowed_users = {f"@{user}" for user in users}
    allowed_links = tuple(links)  # prefixes: the workspace's permalinks
    planted = [
        f"<{inner}>"
        for inner in _SEQUENCE.findall(text)
        if inner not in allowed_users and not _DATE.match(inner) and not inner.startswith(allowed_links)
    ]
    outside = _SEQUENCE.sub("", text)
    planted += [f"stray {char!r}" for char in "<>" if char in outside]
    return planted


def unescaped_ampersands(text: str) -> list[str]:
    return re.findall(r"&(?!amp;|lt;|gt;)[^\s]{0,6}", text)
