"""Malformed bodies at the HTTP layer: a forgery is refused before anything parses it (401), and a
body Slack signed but nobody can parse is a plain 400, never a 500 or a 200 that hides it."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from bot.fake_slack import FakeSlack
from storage.models import Project
from tests.support import RunningBot

FORM = "application/x-www-form-urlencoded"
UNPARSEABLE_BODIES: list[tuple[bytes, str, str]] = [  # body, content type, test id
    (b"payload=%7Bnot+json", FORM, "payload-not-json"),
    (b"payload=%5B1%2C2%5D", FORM, "payload-a-list"),
    (b"payload=%22just+a+string%22", FORM, "payload-a-string"),
    (b"{not json", "application/json", "json-body-not-json"),
]
UNPARSEABLE = [pytest.param(body, content_type, id=name) for body, content_type, name in UNPARSEABLE_BODIES]


def _nothing_changed(bot: RunningBot, fake: FakeSlack) -> None:
    bot.settle()
    assert [call.method for call in fake.calls if call.method != "auth.test"] == []
    assert fake.responses == []
    with Session(bot.engine) as session:
        assert session.exec(select(Project)).all() == []


@pytest.mark.parametrize(("body", "content_type"), UNPARSEABLE)
def test_a_forged_malformed_body_is_refused_before_it_is_parsed(
    bot: RunningBot, fake_slack: FakeSlack, body: bytes, content_type: str
) -> None:
    result = bot.slack.post(body, content_type=content_type, secret="not-the-signing-secret")
    assert result.status == 401, result
    assert result.body == "invalid request signature\n"
    _nothing_changed(bot, fake_slack)


@pytest.mark.parametrize(("body", "content_type"), UNPARSEABLE)
def test_a_signed_body_nobody_can_parse_is_a_plain_400(
    bot: RunningBot, fake_slack: FakeSlack, body: bytes, content_type: str
) -> None:
    result = bot.slack.post(body, content_type=content_type)
    assert result.status == 400, result
    assert result.body == "malformed Slack request\n"
    _nothing_changed(bot, fake_slack)


def test_a_signed_body_that_parses_still_works_after_malformed_ones(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """The 400s leave the server serving: the next well-formed command is answered."""
    for body, content_type, _name in UNPARSEABLE_BODIES:
        assert bot.slack.post(body, content_type=content_type).status == 400
    answer = bot.slack.command("help")
    assert answer.status == 200 and "/distill start" in answer.json()["text"]
