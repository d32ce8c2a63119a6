"""The payloads Slack sends to an app, built the way Slack builds them.

One place for their shapes, shared by the tests (which sign and post them to the bot) and the
playground (whose page is the Slack client): slash commands, `block_actions` for checkboxes and
buttons, `view_submission`, and Events API callbacks.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from typing import Any

from .server import APP_ID, FakeSlack

Json = dict[str, Any]

# The token field Slack still sends; apps must not rely on it (they verify signatures instead).
DEPRECATED_TOKEN = "deprecated-verification-token"


def sign(body: bytes, timestamp: int | str, secret: str) -> str:
    """`X-Slack-Signature` for a request body sent at `timestamp`, with the app's signing secret."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def command_payload(
    fake: FakeSlack,
    text: str,
    channel: str,
    user: str,
    team: str,
    *,
    channel_name: str = "support-router",
    user_name: str | None = None,
) -> dict[str, str]:
    """A slash command `/distill <text>`, form fields as Slack posts them."""
    return {
        "token": DEPRECATED_TOKEN,
        "team_id": team,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user_name or user.lower(),
        "command": "/distill",
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": fake.new_response_url(channel_id=channel),
        "trigger_id": fake.new_trigger_id(),
    }


def checkbox_action(block: Json, element: Json, selected_options: list[Json]) -> Json:
    """The `actions[0]` of a checkbox click: the user's whole selection of that element after it."""
    return {
        "type": "checkboxes",
        "action_id": element["action_id"],
        "block_id": block["block_id"],
        "selected_options": selected_options,
        "action_ts": f"{time.time():.6f}",
    }


def button_action(block: Json, button: Json) -> Json:
    """The `actions[0]` of a button press: the button as the client showed it, and its block."""
    return {**button, "block_id": block["block_id"], "action_ts": f"{time.time():.6f}"}


def block_actions_payload(
    fake: FakeSlack,
    *,
    action: Json,
    channel: str,
    user: str,
    team: str,
    message: Json | None,
    message_ts: str,
    thread_ts: str | None = None,
    channel_name: str = "support-router",
    user_name: str | None = None,
) -> Json:
    """A click on a message. `message` is the message as the user's client showed it (None for
    an ephemeral message: Slack sends no `message` then)."""
    name = user_name or user.lower()
    payload: Json = {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": team},
        "api_app_id": APP_ID,
        "token": DEPRECATED_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": message is None,
            "thread_ts": thread_ts,
        },
        "trigger_id": fake.new_trigger_id(),
        "team": {"id": team, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel, "name": channel_name},
        "state": {"values": {}},
        "response_url": fake.new_response_url(
            channel_id=channel, message_ts=None if message is None else message_ts
        ),
        "actions": [action],
    }
    if message is not None:
        payload["message"] = message
    return payload


def input_state(view: Json, values: dict[str, str]) -> Json:
    """A view's `state.values` as Slack sends it on submission, from what was typed or picked
    in each input block (by block id); inputs left empty are absent, as in Slack."""
    state: Json = {}
    for block in view.get("blocks") or []:
        if block.get("type") != "input" or block.get("block_id") not in values:
            continue
        element = block.get("element") or {}
        element_type = element.get("type")
        value = values[block["block_id"]]
        if element_type in ("static_select", "radio_buttons"):
            option = next((o for o in element.get("options") or [] if o.get("value") == value), None)
            entry: Json = {"type": element_type, "selected_option": option or {"value": value}}
        elif element_type == "datepicker":
            entry = {"type": element_type, "selected_date": value or None}
        else:
            entry = {"type": element_type, "value": value or None}
        state[block["block_id"]] = {element.get("action_id"): entry}
    return state


def view_submission_payload(
    fake: FakeSlack, view: Json, values: dict[str, str], user: str, team: str
) -> Json:
    """A modal's submit button: the view as stored, with the typed values in `view.state`."""
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": team},
        "api_app_id": APP_ID,
        "token": DEPRECATED_TOKEN,
        "trigger_id": fake.new_trigger_id(),
        "view": {**view, "state": {"values": input_state(view, values)}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_callback(team: str, event: Json) -> Json:
    """An Events API delivery (`app_home_opened` and the like), as Slack posts it."""
    return {
        "token": DEPRECATED_TOKEN,
        "team_id": team,
        "api_app_id": APP_ID,
        "event": {**event, "event_ts": f"{time.time():.6f}"},
        "type": "event_callback",
        "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }
