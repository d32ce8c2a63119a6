"""The shape of an interaction payload, checked once before Bolt or a listener reads it.

Bolt's listener matching and our listeners index into payloads as Slack builds them. A signed
payload with a field of the wrong type (an action that is a string, a team that is a list) would
raise inside them; here it is refused with a plain 400 instead, before anything reads or stores it.
Ids that are well-formed but point elsewhere are the listeners' business (a stale-button answer).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

log = logging.getLogger(__name__)

MALFORMED = "malformed Slack request\n"
_WHO_AND_WHERE = ("team", "user", "channel", "enterprise", "container", "message")
# Slack's team, user and channel ids are a few characters (at most 21 so far); the tables keep 32.
# A longer one is not from Slack, and storing it would fail on PostgreSQL only.
ID_MAX = 32
_IDS = ("team", "user", "channel")
_COMMAND_IDS = ("team_id", "user_id", "channel_id")


def problem(body: Any) -> str | None:
    """What is wrong with a payload's shape, or None when every field the bot reads has its type."""
    if not isinstance(body, dict):
        return "the payload is not an object"
    kind = body.get("type")
    if kind is None and "command" in body:  # a slash command: form fields, always strings
        for key in _COMMAND_IDS:
            if unlike := _unlike_slacks(str(body.get(key) or "")):
                return f"{key} is {unlike}"
        return None
    if not isinstance(kind, str):
        return "type is not a string"
    for key in _WHO_AND_WHERE:
        value = body.get(key)
        if value is not None and not isinstance(value, dict):
            return f"{key} is not an object"
        if isinstance(value, dict) and not _optional(value, "id", str):
            return f"{key}.id is not a string"
        if key in _IDS and isinstance(value, dict) and (unlike := _unlike_slacks(value.get("id") or "")):
            return f"{key}.id is {unlike}"
    for key in ("response_url", "trigger_id", "api_app_id"):
        if not _optional(body, key, str):
            return f"{key} is not a string"
    if kind == "block_actions":
        return _actions_problem(body.get("actions"))
    if kind in {"view_submission", "view_closed"}:
        return _view_problem(body.get("view"))
    return None


def _unlike_slacks(identifier: str) -> str | None:
    """Why a team, user or channel id cannot be Slack's, or None. Slack's ids are printable:
    a lone surrogate (what a JSON "\\ud800" decodes to) cannot even be encoded for the
    database, and a click holding one failed with every click stored in its batch; PostgreSQL
    refuses a NUL."""
    if len(identifier) > ID_MAX:
        return "longer than Slack's"
    if not identifier.isprintable():
        return "not text Slack sends"
    return None


def _actions_problem(actions: Any) -> str | None:
    if not isinstance(actions, list) or not actions:
        return "actions is not a non-empty list"
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            return "an action has no action_id"
        if not all(_optional(action, key, str) for key in ("block_id", "value", "type")):
            return "an action's block_id, value or type is not a string"
        options = action.get("selected_options")
        if options is not None and not (
            isinstance(options, list) and all(isinstance(option, dict) for option in options)
        ):
            return "selected_options is not a list of options"
    return None


def _view_problem(view: Any) -> str | None:
    if not isinstance(view, dict):
        return "view is not an object"
    if not isinstance(view.get("callback_id"), str):
        return "view.callback_id is not a string"
    if not all(_optional(view, key, str) for key in ("private_metadata", "id", "hash")):
        return "view.private_metadata, id or hash is not a string"
    blocks = view.get("blocks")
    if blocks is not None and not (isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks)):
        return "view.blocks is not a list of blocks"
    state = view.get("state")
    if state is None:
        return None
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict) or not all(
        isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
        for block in values.values()
    ):
        return "view.state.values is not a map of inputs"
    return None


def _optional(container: dict[str, Any], key: str, kind: type) -> bool:
    return container.get(key) is None or isinstance(container[key], kind)


class RefuseMalformed(Middleware):
    """Bolt global middleware: a malformed payload gets a 400 and reaches no listener.

    A Middleware subclass rather than a function: for a function, Bolt builds every argument
    a listener could ask for (payload views, say, respond, ...) on each request, and every
    click would pay for that."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        reason = problem(req.body)
        if reason is None:
            return next()
        log.warning("malformed Slack payload: %s", reason)
        return BoltResponse(status=400, body=MALFORMED, headers={"content-type": "text/plain; charset=utf-8"})
