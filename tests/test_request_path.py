"""The HTTP endpoint under bad input: forged, stale or malformed requests change nothing."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from bot.fake_slack import FakeSlack
from bot.listeners.common import UNEXPECTED
from bot.server import percent_decoded
from storage.models import Project
from tests.conftest import PROJECT_CHANNEL
from tests.support import RunningBot, command_payload, http


def _start_body(fake: FakeSlack) -> bytes:
    return urllib.parse.urlencode(
        command_payload(fake, "start Forged", PROJECT_CHANNEL, "UALICE", "T0001")
    ).encode()


def _nothing_happened(bot: RunningBot, fake: FakeSlack) -> None:
    bot.settle()
    assert [call.method for call in fake.calls if call.method != "auth.test"] == []
    with Session(bot.engine) as session:
        assert session.exec(select(Project)).all() == []


def test_forged_signature_gets_401_and_touches_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    result = bot.slack.post(_start_body(fake_slack), secret="not-the-signing-secret")
    assert result.status == 401
    _nothing_happened(bot, fake_slack)


def test_stale_signature_gets_401_and_touches_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    result = bot.slack.post(_start_body(fake_slack), timestamp=int(time.time()) - 6 * 60)
    assert result.status == 401
    _nothing_happened(bot, fake_slack)


def test_missing_signature_gets_401(bot: RunningBot, fake_slack: FakeSlack) -> None:
    result = http(
        "POST",
        bot.slack.events_url,
        _start_body(fake_slack),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert result.status == 401
    _nothing_happened(bot, fake_slack)


def test_body_changed_after_signing_gets_401(bot: RunningBot, fake_slack: FakeSlack) -> None:
    timestamp = int(time.time())
    from tests.support import sign

    body = _start_body(fake_slack)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": sign(body, timestamp),
    }
    assert http("POST", bot.slack.events_url, body.replace(b"Forged", b"Forger"), headers).status == 401
    _nothing_happened(bot, fake_slack)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        (b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"{not json", "application/json"),
        (b"", "application/x-www-form-urlencoded"),
        (b"command=%2Fdistill", "application/x-www-form-urlencoded"),
        (json.dumps({"type": "block_actions"}).encode(), "application/json"),
        (
            urllib.parse.urlencode(
                {"payload": json.dumps({"type": "block_actions", "actions": []})}
            ).encode(),
            "application/x-www-form-urlencoded",
        ),
        (
            urllib.parse.urlencode(
                {
                    "payload": json.dumps(
                        {
                            "type": "block_actions",
                            "actions": [
                                {"action_id": "item:narrow-task", "block_id": "item:1:1:narrow-task:0"}
                            ],
                        }
                    )
                }
            ).encode(),
            "application/x-www-form-urlencoded",
        ),
    ],
)
def test_malformed_bodies_never_get_a_500(
    bot: RunningBot, fake_slack: FakeSlack, body: bytes, content_type: str
) -> None:
    result = bot.slack.post(body, content_type=content_type)
    assert result.status < 500, result
    assert "Traceback" not in result.body
    bot.settle()
    with Session(bot.engine) as session:
        assert session.exec(select(Project)).all() == []


def test_stale_or_foreign_checkbox_ids_get_an_explanation(bot: RunningBot, fake_slack: FakeSlack) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "UALICE"},
        "team": {"id": "T0001"},
        "channel": {"id": PROJECT_CHANNEL},
        "response_url": fake_slack.new_response_url(),
        "actions": [
            {
                "type": "checkboxes",
                "action_id": "item:narrow-task",
                "block_id": "something-else",
                "selected_options": [],
            }
        ],
    }
    assert bot.slack.interact(payload).status == 200
    bot.settle()
    assert "out of date" in fake_slack.responses[-1].body["text"]


def test_health_and_unknown_paths(bot: RunningBot) -> None:
    assert http("GET", bot.base_url + "/healthz").status == 200
    assert http("GET", bot.base_url + "/slack/events").status == 405
    assert http("GET", bot.base_url + "/nope").status == 404


def test_a_failure_inside_the_bot_is_a_short_apology_not_a_500(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    with bot.engine.begin() as connection:  # the database breaks under the bot
        connection.exec_driver_sql("ALTER TABLE project RENAME TO project_gone")
    result = bot.slack.command("status")
    assert result.status == 200
    bot.settle()
    [apology] = [response.body["text"] for response in fake_slack.responses]
    assert apology == UNEXPECTED
    assert "Traceback" not in apology and "project" not in apology


@given(st.text())
def test_an_interactions_payload_is_decoded_as_urllib_decodes_it(text: str) -> None:
    """The fast decoding of a click's payload gives what urllib's gives, for any text Slack
    could encode (quotes, backslashes, plus signs, percent signs, any Unicode)."""
    encoded = urllib.parse.quote_plus(text).encode()
    assert percent_decoded(encoded) == text.encode("utf-8")


@given(st.binary())
def test_a_malformed_field_is_refused_or_read_as_urllib_reads_it(raw: bytes) -> None:
    decoded = percent_decoded(raw)
    if decoded is not None:
        assert decoded == urllib.parse.unquote_to_bytes(raw.replace(b"+", b" "))
