"""manifest.yml: a structure Slack accepts, naming what the code serves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import yaml

from bot.listeners.commands import COMMAND
from bot.server import EVENTS_PATH

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
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
    # The Home tab's openings, and the member events that say when a person's channels changed.
    assert settings["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "member_joined_channel",
        "member_left_channel",
    ]


def test_manifest_asks_for_the_scopes_the_bot_uses() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write"} <= scopes
    # chat:write.public lets the bot post in public channels it was not invited to; it needs chat:write.
    assert "chat:write.public" in scopes
    assert {"channels:read", "groups:read"} <= scopes  # conversations.info, for the default project name
    assert {"channels:history", "groups:history"} <= scopes  # conversations.replies: was a nudge posted?
    assert "users:read" in scopes  # users.info: the starter's time zone
    assert "channels:join" in scopes  # conversations.join: reading back needs membership


def test_an_installed_package_carries_the_manifest_the_stand_in_slack_reads(tmp_path: Path) -> None:
    """`pip install .` (not -e) must leave the stand-in Slack (and so `distill-bot playground`)
    its scopes. setuptools' build_py lays out the files a wheel holds; the fake, imported from
    that layout and run from elsewhere, must read the manifest the layout carries."""
    linked = ROOT / "bot" / "fake_slack" / "manifest.yml"
    assert linked.is_symlink(), "a link to the top-level manifest.yml, never a copy to keep in step"
    assert linked.resolve() == ROOT / "manifest.yml"
    built = tmp_path / "lib"
    setup = [sys.executable, "-W", "ignore", "-c", "from setuptools import setup; setup()", "-q"]
    subprocess.run(
        [*setup, "egg_info", "--egg-base", str(tmp_path), "build_py", "--build-lib", str(built)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    carried = built / "bot" / "fake_slack" / "manifest.yml"
    assert not carried.is_symlink() and carried.read_bytes() == (ROOT / "manifest.yml").read_bytes()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = (
        "from bot.fake_slack.server import MANIFEST_PATH, manifest_scopes\n"
        "print(MANIFEST_PATH)\nprint(' '.join(sorted(manifest_scopes())))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": str(built)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    path, scopes = result.stdout.splitlines()
    assert Path(path).is_relative_to(built), "the installed copy was imported, not the source tree"
    assert scopes.split() == sorted(MANIFEST["oauth_config"]["scopes"]["bot"])
