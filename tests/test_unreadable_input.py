"""Values the bot never wrote, and text it cannot store, through the real endpoint: each gets
the same clear answer as any stale button or bad command, never the apology for a bug (or
silence), and nothing is stored half-way. Found by an audit of the listeners."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from bot.fake_slack import FakeSlack, payloads
from bot.lifecycle import REOPEN_USAGE
from bot.listeners import actions, forms, nudge_actions
from bot.listeners.common import UNEXPECTED
from tests.checklist_flow import phase_messages, submit_view
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, ErrorRecords, RunningBot, click_payload, command_payload, recording_errors


@pytest.fixture
def errors() -> Iterator[ErrorRecords]:
    with recording_errors() as handler:
        yield handler


def started(bot: RunningBot, fake: FakeSlack) -> dict[str, Any]:
    assert bot.slack.command("start Router").status == 200
    bot.settle()
    return phase_messages(fake, PROJECT_CHANNEL)[0]


def answers(fake: FakeSlack, response_url: str) -> list[str]:
    token = response_url.rsplit("/", 1)[1]
    return [str(r.body.get("text")) for r in fake.responses if r.token == token]


def press(bot: RunningBot, fake: FakeSlack, message: dict[str, Any], action_id: str, value: str) -> list[str]:
    """A button the bot did not draw: `action_id` with `value`, on `message`."""
    payload = payloads.block_actions_payload(
        fake,
        action={
            "type": "button",
            "action_id": action_id,
            "block_id": "forms",
            "value": value,
            "action_ts": "1",
        },
        channel=PROJECT_CHANNEL,
        user="UALICE",
        team=TEAM,
        message=message,
        message_ts=message["ts"],
    )
    assert bot.slack.interact(payload).status == 200
    bot.settle()
    return answers(fake, payload["response_url"])


def command(bot: RunningBot, fake: FakeSlack, text: str) -> list[str]:
    payload = command_payload(fake, text, PROJECT_CHANNEL, "UALICE", TEAM)
    result = bot.slack.post(urllib.parse.urlencode(payload).encode())
    bot.settle()
    assert result.status == 200
    return (
        [json.loads(result.body).get("text", "")] if result.body else answers(fake, payload["response_url"])
    )


@pytest.mark.parametrize("value", ["99999999999999999999:1", "1:99999999999999999999", "²:1"])
def test_a_form_button_whose_value_the_bot_did_not_write_is_out_of_date(
    bot: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords, value: str
) -> None:
    replies = press(bot, fake_slack, started(bot, fake_slack), "waive:open", value)
    assert replies == [forms.STALE_BUTTON]
    assert not errors.records and fake_slack.views == []


@pytest.mark.parametrize("value", ["²", "99999999999999999999"])
def test_a_nudge_button_whose_value_the_bot_did_not_write_is_out_of_date(
    bot: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords, value: str
) -> None:
    replies = press(bot, fake_slack, started(bot, fake_slack), "nudge:no_drift", value)
    assert replies == [nudge_actions.STALE_BUTTON]
    assert not errors.records


@pytest.mark.parametrize("callback_id", ["bars", "stop"])
def test_a_form_whose_metadata_names_no_storable_project_is_out_of_date(
    bot: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords, callback_id: str
) -> None:
    started(bot, fake_slack)
    view = {
        "type": "modal",
        "callback_id": callback_id,
        "id": "V1",
        "hash": "h",
        "private_metadata": json.dumps({"project_id": 10**20, "phase": 1}),
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "element": {"type": "plain_text_input", "action_id": "reason"},
            }
        ],
        "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": "x"}}}},
    }
    result = submit_view(bot, view, {})
    assert result.status == 200 and json.loads(result.body)["errors"] == {
        "reason": "This form is out of date."
    }
    without_ids = {**view, "blocks": [{"type": "input", "element": {"type": "plain_text_input"}}]}
    result = submit_view(bot, without_ids, {})  # the answer goes where nothing is named
    assert result.status == 200 and json.loads(result.body)["errors"] == {"_": "This form is out of date."}
    assert not errors.records


def test_a_checkbox_whose_ids_are_too_large_to_store_is_out_of_date_on_each_database(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords
) -> None:
    bot = bot_on_each_db
    message = started(bot, fake_slack)
    payload = click_payload(fake_slack, message, PROJECT_CHANNEL, "narrow-task", True, "UALICE", TEAM)
    payload["actions"][0]["block_id"] = "item:9999999999:1:narrow-task:1"
    assert bot.slack.interact(payload).status == 200
    bot.settle()
    assert answers(fake_slack, payload["response_url"]) == [actions.STALE_BUTTON]
    assert not errors.records


@pytest.mark.parametrize("text", ["reopen ² retrained", "reopen ¹ retrained"])
def test_reopen_with_a_digit_that_is_not_0_to_9_gets_its_usage(
    bot: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords, text: str
) -> None:
    started(bot, fake_slack)
    [reply] = command(bot, fake_slack, text)
    assert reply.startswith(REOPEN_USAGE), reply
    assert not errors.records


@pytest.mark.parametrize(
    "text", ["start Rou\x00ter", "owners add U\x00BOB", "timezone Europe/Ber\x00lin", "reopen 1 \x00"]
)
def test_a_nul_character_in_a_command_is_dropped_on_each_database(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords, text: str
) -> None:
    bot = bot_on_each_db
    if not text.startswith("start"):
        started(bot, fake_slack)
    replies = command(bot, fake_slack, text)
    assert UNEXPECTED not in replies and not errors.records, replies
    if text.startswith("start"):  # started, under the name as typed without its NUL
        assert "Distillation: Router" in json.dumps(fake_slack.messages(PROJECT_CHANNEL)[0]["blocks"])
    else:
        assert replies


def test_a_nul_character_in_a_form_is_dropped_on_each_database(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords
) -> None:
    bot = bot_on_each_db
    started(bot, fake_slack)
    command(bot, fake_slack, "stop")
    result = submit_view(bot, fake_slack.views[-1], {"outcome": "other", "reason": "budget\x00 cut"})
    assert result.status == 200 and UNEXPECTED not in result.body, result.body
    bot.slack.command("history")
    bot.settle()
    assert not errors.records


@pytest.mark.parametrize(
    "bad_id", ["U" + "X" * 40, "U\ud800X", "U\x00X"], ids=["too long", "lone surrogate", "NUL"]
)
def test_an_id_unlike_slacks_is_refused_before_anything_is_stored_on_each_database(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack, errors: ErrorRecords, bad_id: str
) -> None:
    """Stored, a 41-character user id ticked on SQLite and failed on PostgreSQL (VARCHAR 32);
    a lone surrogate (a payload's "\\ud800") could not be encoded for the database and failed
    every click stored in its batch."""
    bot = bot_on_each_db
    message = started(bot, fake_slack)
    click = click_payload(fake_slack, message, PROJECT_CHANNEL, "narrow-task", True, bad_id, TEAM)
    assert bot.slack.interact(click).status == 400
    if "\ud800" not in bad_id:  # a form is UTF-8: no lone surrogate fits in one
        payload = command_payload(fake_slack, "status", PROJECT_CHANNEL, bad_id, TEAM)
        assert bot.slack.post(urllib.parse.urlencode(payload).encode()).status == 400
    bot.settle()
    assert not errors.records and fake_slack.responses == []
    assert "1/32" not in json.dumps(fake_slack.messages(PROJECT_CHANNEL))
