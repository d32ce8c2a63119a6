"""manifest.yml: a structure Slack accepts, naming what the code serves."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import yaml

from bot.listeners.commands import COMMAND
from bot.server import EVENTS_PATH

MANIFEST = yaml.safe_load((Path(__file__).resolve().parents[1] / "manifest.yml").read_text(encoding="utf-8"))
KNOWN_TOP_LEVEL = {
    "_metadata",
    "display_information",
    "features",
    "oauth_config",
    "settings",
    "functions",
    "workflows",
    "datastores",
    "outgoing_domains",
    "types",
}


def test_manifest_has_slacks_required_structure() -> None:
    assert set(MANIFEST) <= KNOWN_TOP_LEVEL
    assert MANIFEST["_metadata"]["major_version"] == 1
    display = MANIFEST["display_information"]
    assert 1 <= len(display["name"]) <= 35
    assert len(display["description"]) <= 140
    assert 174 <= len(display["long_description"]) <= 4000
    assert MANIFEST["features"]["bot_user"]["display_name"]
    assert len(MANIFEST["features"]["bot_user"]["display_name"]) <= 80


def test_manifest_declares_the_command_and_url_the_bot_serves() -> None:
    [command] = MANIFEST["features"]["slash_commands"]
    assert command["command"] == COMMAND
    assert len(command["description"]) <= 2000 and command["usage_hint"]
    assert command["should_escape"] is True  # mentions arrive as <@U…> for `/distill owners add`
    settings = MANIFEST["settings"]
    assert settings["interactivity"]["is_enabled"] is True
    for url in (command["url"], settings["interactivity"]["request_url"]):
        parsed = urlparse(url)
        assert parsed.scheme == "https" and parsed.path == EVENTS_PATH
    assert settings["socket_mode_enabled"] is True


def test_manifest_asks_for_the_scopes_the_bot_uses() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write"} <= scopes
    # chat:write.public lets the bot post in public channels it was not invited to; it needs chat:write.
    assert "chat:write.public" in scopes
    assert {"channels:read", "groups:read"} <= scopes  # conversations.info, for the default project name
    assert {"channels:history", "groups:history"} <= scopes  # conversations.replies: was a nudge posted?
    assert "users:read" in scopes  # users.info: the starter's time zone
    assert "channels:join" in scopes  # conversations.join: reading back needs membership
