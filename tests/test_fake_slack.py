"""Tests of the fake Slack itself, driven through a real slack_sdk WebClient where Slack would be.

If these pass, the fake refuses what Slack refuses (at least) and the bot's own tests can trust it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from bot.fake_slack import FakeSlack, ManualClock, blockkit
from bot.fake_slack.server import manifest_scopes

Json = dict[str, Any]
START = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    # im:read on top of the manifest's scopes, so conversations.info on a DM can be tested too
    with FakeSlack(clock=clock, scopes=manifest_scopes() | {"im:read"}) as fake:
        fake.add_channel("CPUB", "general")
        fake.add_channel("CPRIV", "secret-club", is_private=True)
        fake.add_channel("CHIDDEN", "not-for-bots", is_private=True, is_member=False)
        fake.add_channel("COUTSIDE", "random", is_member=False)
        fake.add_channel("COLD", "old-stuff", is_archived=True)
        fake.add_channel("DU1", "alice")
        fake.add_user("U1", "alice", tz="Europe/Berlin")
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url)


def slack_error(call: Callable[[], Any]) -> Json:
    """Run a Web API call that must fail; return Slack's answer body."""
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value.response.data


# -- Block Kit builders ------------------------------------------------------------------------------


def plain(text: str) -> Json:
    return {"type": "plain_text", "text": text}


def section(text: str = "hello", **extra: Any) -> Json:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


def button(action_id: str, text: str = "Go", **extra: Any) -> Json:
    return {"type": "button", "action_id": action_id, "text": plain(text), **extra}


def actions(*elements: Json) -> list[Json]:
    return [{"type": "actions", "elements": list(elements)}]


def option(value: str, text: str = "Option", **extra: Any) -> Json:
    return {"text": plain(text), "value": value, **extra}


def checkboxes(options: list[Json], **extra: Any) -> Json:
    return {
        "type": "section",
        "text": plain("Pick"),
        "accessory": {"type": "checkboxes", "action_id": "cb", "options": options, **extra},
    }


def confirm(title: str = "Sure?", text: str = "Really?", yes: str = "Yes", no: str = "No") -> Json:
    return {"title": plain(title), "text": plain(text), "confirm": plain(yes), "deny": plain(no)}


def modal(blocks: list[Json] | None = None, **extra: Any) -> Json:
    return {"type": "modal", "title": plain("Distill"), "blocks": blocks or [section()], **extra}


# -- Block Kit: every limit accepts the at-limit case and rejects one past it ------------------------

# rule -> (builder(n) returning message blocks, the largest n Slack accepts)
MESSAGE_LIMITS: dict[str, tuple[Callable[[int], list[Json]], int]] = {
    "blocks per message": (lambda n: [{"type": "divider"}] * n, 50),
    "section text": (lambda n: [section("x" * n)], 3000),
    "section fields count": (lambda n: [{"type": "section", "fields": [plain("f")] * n}], 10),
    "section field text": (lambda n: [{"type": "section", "fields": [plain("x" * n)]}], 2000),
    "header text": (lambda n: [{"type": "header", "text": plain("x" * n)}], 150),
    "context elements": (lambda n: [{"type": "context", "elements": [plain("c")] * n}], 10),
    "actions elements": (lambda n: actions(*(button(f"a{i}") for i in range(n))), 25),
    "checkbox options": (lambda n: [checkboxes([option(f"v{i}") for i in range(n)])], 10),
    "option text": (lambda n: [checkboxes([option("v", "x" * n)])], 75),
    "option description": (lambda n: [checkboxes([option("v", description=plain("x" * n))])], 75),
    "option value": (lambda n: [checkboxes([option("x" * n)])], 75),
    "block_id": (lambda n: [section(block_id="b" * n)], 255),
    "action_id": (lambda n: actions(button("a" * n)), 255),
    "button text": (lambda n: actions(button("a", "x" * n)), 75),
    "button value": (lambda n: actions(button("a", value="x" * n)), 2000),
    "button url": (lambda n: actions(button("a", url="https://" + "x" * (n - 8))), 3000),
    "confirm title": (lambda n: actions(button("a", confirm=confirm(title="x" * n))), 100),
    "confirm text": (lambda n: actions(button("a", confirm=confirm(text="x" * n))), 300),
    "confirm button": (lambda n: actions(button("a", confirm=confirm(yes="x" * n))), 30),
    "deny button": (lambda n: actions(button("a", confirm=confirm(no="x" * n))), 30),
}


@pytest.mark.parametrize("rule", MESSAGE_LIMITS)
def test_message_block_limit(rule: str) -> None:
    build, limit = MESSAGE_LIMITS[rule]
    assert blockkit.validate_message_blocks(build(limit)) == []
    problems = blockkit.validate_message_blocks(build(limit + 1))
    assert len(problems) == 1, f"{rule}: {limit + 1} should be refused, for that reason only: {problems}"
    assert problems[0].startswith("[ERROR] ") and "[json-pointer:/blocks" in problems[0]


VIEW_LIMITS: dict[str, tuple[Callable[[int], Json], int]] = {
    "blocks per view": (lambda n: modal([{"type": "divider"}] * n), 100),
    "modal title": (lambda n: modal(title=plain("x" * n)), 24),
    "modal submit": (lambda n: modal(submit=plain("x" * n)), 24),
    "modal close": (lambda n: modal(close=plain("x" * n)), 24),
    "private_metadata": (lambda n: modal(private_metadata="x" * n), 3000),
    "callback_id": (lambda n: modal(callback_id="x" * n), 255),
}


@pytest.mark.parametrize("rule", VIEW_LIMITS)
def test_view_limit(rule: str) -> None:
    build, limit = VIEW_LIMITS[rule]
    assert blockkit.validate_view(build(limit)) == []
    problems = blockkit.validate_view(build(limit + 1))
    assert len(problems) == 1, f"{rule}: {limit + 1} should be refused, for that reason only: {problems}"


@pytest.mark.parametrize(
    ("name", "blocks", "expected"),
    [
        ("duplicate block_id", [section(block_id="b"), section(block_id="b")], "duplicate block_id"),
        (
            "action_id reused in another block",
            [
                {"type": "actions", "elements": [button("go")]},
                {"type": "actions", "elements": [button("go")]},
            ],
            "duplicate action_id",
        ),
        ("unknown block type", [{"type": "carousel"}], "unknown or unsupported block type"),
        ("section with neither text nor fields", [{"type": "section"}], "needs text or fields"),
        (
            "text object of unknown type",
            [{"type": "section", "text": {"type": "html", "text": "x"}}],
            "must be one",
        ),
        ("empty text", [section("")], "at least 1 characters"),
        ("mrkdwn header", [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "plain_text"),
        (
            "misspelt property",
            [{**section(), "acessory": button("a")}],
            "invalid additional property: acessory",
        ),
        ("blocks is not a list", {"type": "section"}, "must be an array"),
        (
            "input element in an actions block",
            [{"type": "actions", "elements": [{"type": "plain_text_input", "action_id": "t"}]}],
            "not allowed",
        ),
        (
            "button without text",
            [{"type": "actions", "elements": [{"type": "button", "action_id": "a"}]}],
            "missing required field: text",
        ),
        (
            "mrkdwn button text",
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "action_id": "a", "text": {"type": "mrkdwn", "text": "*b*"}}
                    ],
                }
            ],
            "plain_text",
        ),
        ("checkboxes without options", [checkboxes([])], "at least 1 items"),
        (
            "initial option differs from every option",
            [checkboxes([option("v", description=plain("d"))], initial_options=[option("v")])],
            "exactly match",
        ),
        ("empty initial_options", [checkboxes([option("v")], initial_options=[])], "at least 1 items"),
        ("duplicate option values", [checkboxes([option("v"), option("v")])], "duplicate option value"),
        ("image without alt_text", [{"type": "image", "image_url": "https://x/y.png"}], "alt_text"),
    ],
)
def test_message_block_rules(name: str, blocks: Any, expected: str) -> None:
    problems = blockkit.validate_message_blocks(blocks)
    assert any(expected in p for p in problems), f"{name}: {problems}"


def test_initial_options_that_exactly_match_are_accepted() -> None:
    options = [option("a", "A", description=plain("first")), option("b", "B")]
    assert blockkit.validate_message_blocks([checkboxes(options, initial_options=[options[0]])]) == []


def test_view_rules() -> None:
    assert blockkit.validate_view(modal()) == []
    assert any("markdown" in p for p in blockkit.validate_view(modal([{"type": "markdown", "text": "x"}])))
    with_input = modal(
        [
            {
                "type": "input",
                "label": plain("Why"),
                "element": {"type": "plain_text_input", "action_id": "why"},
            }
        ]
    )
    assert any("submit" in p for p in blockkit.validate_view(with_input))
    assert blockkit.validate_view({**with_input, "submit": plain("Save")}) == []
    assert any("modal, home" in p for p in blockkit.validate_view({"type": "sheet", "blocks": []}))
    assert blockkit.validate_view({"type": "modal", "blocks": []}) != []  # a modal needs a title


def test_initial_value_must_fit_the_inputs_own_max_length() -> None:
    def form(initial: str, max_length: int | None = None) -> dict[str, Any]:
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": "t", "initial_value": initial}
        if max_length is not None:
            element["max_length"] = max_length
        return modal([{"type": "input", "label": plain("T"), "element": element}], submit=plain("Save"))

    assert blockkit.validate_view(form("x" * 20, 20)) == []
    assert any("at most 20" in p for p in blockkit.validate_view(form("x" * 21, 20)))
    assert blockkit.validate_view(form("x" * 3000)) == []
    assert any("at most 3000" in p for p in blockkit.validate_view(form("x" * 3001)))


# -- auth and routing --------------------------------------------------------------------------------


def test_auth_test(client: WebClient, fake: FakeSlack) -> None:
    answer = client.auth_test().data
    assert answer == {
        "ok": True,
        "url": "https://fake.slack.com/",
        "team": "Fake",
        "user": "distillbot",
        "team_id": "T0001",
        "user_id": "UBOT",
        "bot_id": "B0001",
        "app_id": "A0001",
        "is_enterprise_install": False,
    }
    assert [c.method for c in fake.calls] == ["auth.test"]


def test_unknown_method(client: WebClient) -> None:
    assert slack_error(lambda: client.api_call("chat.frobnicate"))["error"] == "unknown_method"


def test_token_checks(fake: FakeSlack) -> None:
    def post(token: str | None) -> Json:
        web = WebClient(token=token, base_url=fake.api_url)
        return slack_error(lambda: web.chat_postMessage(channel="CPUB", text="hi"))

    assert post(None)["error"] == "not_authed"
    assert post("xoxb-someone-else")["error"] == "invalid_auth"
    assert post(fake.app_token)["error"] == "not_allowed_token_type"
    web = WebClient(base_url=fake.api_url)
    assert slack_error(lambda: web.apps_connections_open(app_token=fake.bot_token))["error"] == (
        "not_allowed_token_type"
    )
    assert web.apps_connections_open(app_token=fake.app_token)["url"].startswith("ws://127.0.0.1:")


# -- chat.postMessage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("", "channel_not_found"),
        ("CNOPE", "channel_not_found"),
        ("CHIDDEN", "channel_not_found"),  # private, bot not a member: Slack won't even admit it exists
        ("DNOPE", "channel_not_found"),
        ("COLD", "is_archived"),
    ],
)
def test_post_message_channel_errors(client: WebClient, channel: str, error: str) -> None:
    assert slack_error(lambda: client.chat_postMessage(channel=channel, text="hi"))["error"] == error


@pytest.mark.parametrize("channel", ["CPUB", "CPRIV", "COUTSIDE", "DU1"])
def test_post_message_allowed_channels(client: WebClient, fake: FakeSlack, channel: str) -> None:
    # COUTSIDE: public, bot not a member: allowed because the app has chat:write.public
    answer = client.chat_postMessage(channel=channel, text="hi")
    assert answer["channel"] == channel
    assert fake.message(channel, answer["ts"])["text"] == "hi"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_post_message_needs_content(client: WebClient) -> None:
    assert slack_error(lambda: client.chat_postMessage(channel="CPUB"))["error"] == "no_text"
    assert slack_error(lambda: client.chat_postMessage(channel="CPUB", text=""))["error"] == "no_text"


def test_post_message_invalid_blocks_explains_why(client: WebClient, fake: FakeSlack) -> None:
    answer = slack_error(
        lambda: client.chat_postMessage(channel="CPUB", text="t", blocks=[section("x" * 3001)])
    )
    assert answer["error"] == "invalid_blocks"
    assert answer["response_metadata"]["messages"] == [
        "[ERROR] must be at most 3000 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert fake.messages("CPUB") == []


def test_message_text_budget_fails_with_msg_blocks_too_long(client: WebClient) -> None:
    at_limit = [section("x" * 2640) for _ in range(5)]  # 13,200 characters
    assert client.chat_postMessage(channel="CPUB", text="t", blocks=at_limit)["ok"]
    over = [*at_limit[:4], section("x" * 2641)]
    assert slack_error(lambda: client.chat_postMessage(channel="CPUB", text="t", blocks=over))["error"] == (
        "msg_blocks_too_long"
    )


def test_form_encoded_blocks_and_metadata_are_decoded(client: WebClient, fake: FakeSlack) -> None:
    blocks = '[{"type": "divider"}]'
    metadata = '{"event_type": "run", "event_payload": {"id": 7}}'
    answer = client.api_call(
        "chat.postMessage", data={"channel": "CPUB", "text": "t", "blocks": blocks, "metadata": metadata}
    )
    stored = fake.message("CPUB", answer["ts"])
    assert stored["blocks"] == [{"type": "divider"}]
    assert stored["metadata"] == {"event_type": "run", "event_payload": {"id": 7}}
    assert fake.calls[-1].args["blocks"] == [{"type": "divider"}]


def test_metadata_must_have_slacks_shape(client: WebClient) -> None:
    bad = {"event_type": "run"}
    assert slack_error(lambda: client.chat_postMessage(channel="CPUB", text="t", metadata=bad))["error"] == (
        "invalid_metadata_schema"
    )


def test_ts_values_come_from_the_clock_and_strictly_increase(client: WebClient, clock: ManualClock) -> None:
    first = client.chat_postMessage(channel="CPUB", text="1")["ts"]
    second = client.chat_postMessage(channel="CPUB", text="2")["ts"]  # same clock reading
    clock.advance(5)
    third = client.chat_postMessage(channel="CPUB", text="3")["ts"]
    assert all(re.fullmatch(r"\d{10}\.\d{6}", ts) for ts in (first, second, third))
    assert first.startswith("1700000000.")
    assert float(first) < float(second) < float(third)
    assert third.startswith("1700000005.")


def test_long_text_is_truncated_with_a_warning(client: WebClient, fake: FakeSlack) -> None:
    ts = client.chat_postMessage(channel="CPUB", text="x" * 40_001)["ts"]
    assert len(fake.message("CPUB", ts)["text"]) == 40_000
    assert any("truncated" in w for w in fake.warnings)


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_blocks_without_fallback_text_are_accepted_with_a_warning(client: WebClient, fake: FakeSlack) -> None:
    assert client.chat_postMessage(channel="CPUB", blocks=[section()])["ok"]
    assert any("fallback" in w for w in fake.warnings)


def test_threads(client: WebClient, fake: FakeSlack) -> None:
    parent = client.chat_postMessage(channel="CPUB", text="parent")["ts"]
    reply = client.chat_postMessage(channel="CPUB", text="reply", thread_ts=parent)["ts"]
    client.chat_postMessage(channel="CPUB", text="elsewhere")
    assert [m["text"] for m in fake.messages("CPUB", thread_ts=parent)] == ["parent", "reply"]
    assert fake.message("CPUB", reply)["thread_ts"] == parent
    assert fake.message("CPUB", parent)["reply_count"] == 1
    assert fake.warnings == []
    # Slack answers ok to an unknown thread_ts, but nobody ever sees that reply: the fake warns.
    assert client.chat_postMessage(channel="CPUB", text="lost", thread_ts="1600000000.000001")["ok"]
    assert any("matches no message" in w for w in fake.warnings)


# -- chat.update ---------------------------------------------------------------------------------------


def test_update_round_trip(client: WebClient, fake: FakeSlack) -> None:
    metadata = {"event_type": "run", "event_payload": {"step": 1}}
    ts = client.chat_postMessage(channel="CPUB", text="v1", blocks=[section("v1")], metadata=metadata)["ts"]
    answer = client.chat_update(channel="CPUB", ts=ts, text="v2", blocks=[section("v2")])
    assert (answer["channel"], answer["ts"], answer["text"]) == ("CPUB", ts, "v2")
    stored = fake.message("CPUB", ts)
    assert stored["blocks"] == [section("v2")]
    assert stored["metadata"] == metadata  # kept when not sent
    assert stored["edited"]["user"] == "UBOT"
    # Text without blocks removes the blocks; {} metadata removes the metadata.
    client.chat_update(channel="CPUB", ts=ts, text="plain", metadata={})
    stored = fake.message("CPUB", ts)
    assert (stored["text"], stored["blocks"], stored["metadata"]) == ("plain", [], None)


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_update_errors(client: WebClient, fake: FakeSlack) -> None:
    ts = client.chat_postMessage(channel="CPUB", text="mine")["ts"]
    theirs = fake.add_message("CPUB", "theirs", user="U1")
    assert (
        slack_error(lambda: client.chat_update(channel="CPUB", ts="", text="x"))["error"]
        == "message_not_found"
    )
    assert slack_error(lambda: client.chat_update(channel="CPUB", ts="1.000001", text="x"))["error"] == (
        "message_not_found"
    )
    assert slack_error(lambda: client.chat_update(channel="CPUB", ts=theirs, text="x"))["error"] == (
        "cant_update_message"
    )
    assert (
        slack_error(lambda: client.chat_update(channel="CNOPE", ts=ts, text="x"))["error"]
        == "channel_not_found"
    )
    assert slack_error(lambda: client.chat_update(channel="CPUB", ts=ts))["error"] == "no_text"
    fake.set_channel("CPUB", is_archived=True)
    assert slack_error(lambda: client.chat_update(channel="CPUB", ts=ts, text="x"))["error"] == "is_archived"
    fake.update_archived_error = "is_inactive"  # the code current docs list
    assert slack_error(lambda: client.chat_update(channel="CPUB", ts=ts, text="x"))["error"] == "is_inactive"


def test_delete_removes_only_the_bots_own_messages(client: WebClient, fake: FakeSlack) -> None:
    parent = client.chat_postMessage(channel="CPUB", text="parent")["ts"]
    first = client.chat_postMessage(channel="CPUB", text="one", thread_ts=parent)["ts"]
    second = client.chat_postMessage(channel="CPUB", text="two", thread_ts=parent)["ts"]
    theirs = fake.add_message("CPUB", "theirs", user="U1")
    answer = client.chat_delete(channel="CPUB", ts=second)
    assert (answer["channel"], answer["ts"]) == ("CPUB", second)
    assert [m["text"] for m in fake.messages("CPUB", thread_ts=parent)] == ["parent", "one"]
    stored_parent = fake.message("CPUB", parent)
    assert (stored_parent["reply_count"], stored_parent["latest_reply"]) == (1, first)
    assert slack_error(lambda: client.chat_delete(channel="CPUB", ts=second))["error"] == "message_not_found"
    assert (
        slack_error(lambda: client.chat_delete(channel="CPUB", ts=theirs))["error"] == "cant_delete_message"
    )
    assert slack_error(lambda: client.chat_delete(channel="CNOPE", ts=first))["error"] == "channel_not_found"


def test_hang_up_carries_the_call_out_and_never_answers(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", hang_up=True)
    no_retries = WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    with pytest.raises(OSError):  # the connection closed with no answer
        no_retries.chat_postMessage(channel="CPUB", text="sent anyway")
    assert [m["text"] for m in fake.messages("CPUB")] == ["sent anyway"]
    # slack_sdk's default connection-error retry sends the post again: Slack then holds two.
    fake.fail("chat.postMessage", hang_up=True)
    assert client.chat_postMessage(channel="CPUB", text="twice")["ok"]
    assert [m["text"] for m in fake.messages("CPUB")] == ["sent anyway", "twice", "twice"]


def test_a_fault_after_carrying_the_call_out(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=500, retry_after=None, carry_out=True)
    no_retries = WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])
    assert slack_error(lambda: no_retries.chat_postMessage(channel="CPUB", text="stored"))["error"] == (
        "internal_error"
    )
    assert [m["text"] for m in fake.messages("CPUB")] == ["stored"]
    assert fake.calls_to("chat.postMessage")[0].http_status == 500


def test_bot_removed_from_private_channel(client: WebClient, fake: FakeSlack) -> None:
    ts = client.chat_postMessage(channel="CPRIV", text="hi")["ts"]
    fake.set_channel("CPRIV", is_member=False)
    assert slack_error(lambda: client.chat_update(channel="CPRIV", ts=ts, text="x"))["error"] == (
        "channel_not_found"
    )
    assert slack_error(lambda: client.conversations_info(channel="CPRIV"))["error"] == "channel_not_found"


# -- permalinks, replies, info -------------------------------------------------------------------------


def test_permalink(client: WebClient) -> None:
    ts = client.chat_postMessage(channel="CPUB", text="hi")["ts"]
    assert client.chat_getPermalink(channel="CPUB", message_ts=ts)["permalink"] == (
        f"https://fake.slack.com/archives/CPUB/p{ts.replace('.', '')}"
    )
    reply = client.chat_postMessage(channel="CPUB", text="re", thread_ts=ts)["ts"]
    assert client.chat_getPermalink(channel="CPUB", message_ts=reply)["permalink"].endswith(
        f"?thread_ts={ts}&cid=CPUB"
    )
    assert slack_error(lambda: client.chat_getPermalink(channel="CPUB", message_ts="1.000002"))["error"] == (
        "message_not_found"
    )


def test_replies_with_metadata_and_paging(client: WebClient, fake: FakeSlack) -> None:
    metadata = {"event_type": "run", "event_payload": {"id": 1}}
    parent = client.chat_postMessage(channel="CPUB", text="p", metadata=metadata)["ts"]
    for text in ("r1", "r2"):
        client.chat_postMessage(channel="CPUB", text=text, thread_ts=parent)
    full = client.conversations_replies(channel="CPUB", ts=parent, include_all_metadata=True)
    assert [m["text"] for m in full["messages"]] == ["p", "r1", "r2"]
    assert full["messages"][0]["metadata"] == metadata
    plain_answer = client.conversations_replies(channel="CPUB", ts=parent)
    assert "metadata" not in plain_answer["messages"][0]
    page1 = client.conversations_replies(channel="CPUB", ts=parent, limit=2)
    assert page1["has_more"] and len(page1["messages"]) == 2
    page2 = client.conversations_replies(
        channel="CPUB", ts=parent, limit=2, cursor=page1["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in page2["messages"]] == ["r2"] and not page2["has_more"]
    assert slack_error(lambda: client.conversations_replies(channel="CPUB", ts="1.000003"))["error"] == (
        "thread_not_found"
    )


def test_conversations_info(client: WebClient) -> None:
    info = client.conversations_info(channel="CPRIV")["channel"]
    assert {k: info[k] for k in ("id", "name", "is_private", "is_archived", "is_member", "is_im")} == {
        "id": "CPRIV",
        "name": "secret-club",
        "is_private": True,
        "is_archived": False,
        "is_member": True,
        "is_im": False,
    }
    assert client.conversations_info(channel="DU1")["channel"]["is_im"] is True
    for hidden in ("CNOPE", "CHIDDEN"):
        assert slack_error(partial(client.conversations_info, channel=hidden))["error"] == "channel_not_found"


def test_users_info(client: WebClient, fake: FakeSlack) -> None:
    user = client.users_info(user="U1")["user"]
    assert (user["id"], user["name"], user["tz"], user["tz_offset"]) == ("U1", "alice", "Europe/Berlin", 3600)
    assert (user["deleted"], user["is_bot"]) == (False, False)
    assert slack_error(lambda: client.users_info(user="U404"))["error"] == "user_not_found"
    # Slack answers for a deactivated account, and for bot users, the app's own included.
    fake.add_user("UGONE", "gone", deleted=True)
    assert client.users_info(user="UGONE")["user"]["deleted"] is True
    assert client.users_info(user=fake.bot_user_id)["user"]["is_bot"] is True


def test_post_ephemeral(client: WebClient, fake: FakeSlack) -> None:
    answer = client.chat_postEphemeral(channel="CPUB", user="U1", text="only you")
    assert fake.ephemerals == [
        {
            "channel": "CPUB",
            "user": "U1",
            "text": "only you",
            "blocks": [],
            "attachments": [],
            "thread_ts": None,
            "message_ts": answer["message_ts"],
        }
    ]
    assert fake.messages("CPUB") == []
    assert slack_error(lambda: client.chat_postEphemeral(channel="CPUB", user="U404", text="x"))["error"] == (
        "user_not_found"
    )
    assert slack_error(lambda: client.chat_postEphemeral(channel="CHIDDEN", user="U1", text="x"))[
        "error"
    ] == ("channel_not_found")


# -- views ---------------------------------------------------------------------------------------------


def test_views_open_and_update(client: WebClient, fake: FakeSlack) -> None:
    opened = client.views_open(trigger_id=fake.new_trigger_id(), view=modal(callback_id="distill"))["view"]
    assert opened["id"].startswith("V") and opened["callback_id"] == "distill"
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal([section("new")]))
    assert updated["view"]["blocks"] == [section("new")]
    assert (
        slack_error(lambda: client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal()))[
            "error"
        ]
        == "hash_conflict"
    )
    assert slack_error(lambda: client.views_update(view_id="VNOPE", view=modal()))["error"] == "not_found"


def test_trigger_id_is_single_use_and_expires(client: WebClient, fake: FakeSlack, clock: ManualClock) -> None:
    trigger = fake.new_trigger_id()
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]
    assert slack_error(lambda: client.views_open(trigger_id=trigger, view=modal()))["error"] == (
        "exchanged_trigger_id"
    )
    at_limit, too_late = fake.new_trigger_id(), fake.new_trigger_id()
    clock.advance(3)
    assert client.views_open(trigger_id=at_limit, view=modal())["ok"]
    clock.advance(0.001)
    assert slack_error(lambda: client.views_open(trigger_id=too_late, view=modal()))["error"] == (
        "expired_trigger_id"
    )
    assert slack_error(lambda: client.views_open(trigger_id="1.2.made-up", view=modal()))["error"] == (
        "invalid_trigger_id"
    )


def test_invalid_view_is_refused_and_leaves_the_trigger_usable(client: WebClient, fake: FakeSlack) -> None:
    trigger = fake.new_trigger_id()
    answer = slack_error(lambda: client.views_open(trigger_id=trigger, view=modal(title=plain("x" * 25))))
    assert answer["error"] == "invalid_arguments"
    assert answer["response_metadata"]["messages"] == [
        "[ERROR] must be at most 24 characters [json-pointer:/view/title/text]"
    ]
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]


def test_view_size_limit(client: WebClient, fake: FakeSlack) -> None:
    limit = blockkit.VIEW_MAX_BYTES
    view = modal([section("x") for _ in range(100)])
    per_block = (limit - blockkit.view_size_bytes(view)) // 100
    view = modal([section("x" * (1 + per_block)) for _ in range(100)])
    view["blocks"][0] = section("x" * (1 + per_block + limit - blockkit.view_size_bytes(view)))
    assert blockkit.view_size_bytes(view) == limit
    assert client.views_open(trigger_id=fake.new_trigger_id(), view=view)["ok"]
    view["blocks"][0]["text"]["text"] += "x"
    assert slack_error(lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=view))["error"] == (
        "view_too_large"
    )


# -- fault injection -----------------------------------------------------------------------------------


def test_rate_limit_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", status=429, retry_after=0)
    web = WebClient(
        token=fake.bot_token, base_url=fake.api_url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    assert web.chat_postMessage(channel="CPUB", text="hi")["ok"]
    assert [(c.http_status, c.error) for c in fake.calls_to("chat.postMessage")] == [
        (429, "ratelimited"),
        (200, None),
    ]
    assert len(fake.messages("CPUB")) == 1


def test_rate_limit_without_retry_handler_surfaces_retry_after(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("chat.update", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        client.chat_update(channel="CPUB", ts="1.000001", text="x")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"


def test_server_error_then_success_with_retry_handler(fake: FakeSlack) -> None:
    fake.fail("conversations.info", status=500, times=2)
    no_wait = FixedValueRetryIntervalCalculator(0)
    web = WebClient(
        token=fake.bot_token,
        base_url=fake.api_url,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=2, interval_calculator=no_wait)],
    )
    assert web.conversations_info(channel="CPUB")["ok"]
    assert [c.http_status for c in fake.calls_to("conversations.info")] == [500, 500, 200]


def test_injected_error_answer(client: WebClient, fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", error="fatal_error")
    assert slack_error(lambda: client.chat_postMessage(channel="CPUB", text="hi"))["error"] == "fatal_error"
    assert client.chat_postMessage(channel="CPUB", text="hi")["ok"]  # only the next call fails


def test_hold_blocks_until_released(client: WebClient, fake: FakeSlack) -> None:
    release = fake.hold("chat.postMessage")
    done = threading.Event()

    def post() -> None:
        client.chat_postMessage(channel="CPUB", text="held")
        done.set()

    worker = threading.Thread(target=post)
    worker.start()
    assert fake.wait_for_arrival("chat.postMessage", timeout=5)
    assert not done.is_set() and fake.messages("CPUB") == [] and fake.calls == []
    release.set()
    assert done.wait(5)
    worker.join(5)
    assert [m["text"] for m in fake.messages("CPUB")] == ["held"]


def test_delay_provokes_client_timeout(fake: FakeSlack) -> None:
    fake.delay("users.info", 30)  # released at once when the fake stops
    impatient = WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=0.2)  # type: ignore[arg-type]  # urllib takes float seconds
    with pytest.raises(TimeoutError):
        impatient.users_info(user="U1")


# -- response_url --------------------------------------------------------------------------------------


def test_response_url_allows_five_uses(fake: FakeSlack) -> None:
    hook = WebhookClient(fake.new_response_url())
    assert [hook.send(text=f"update {i}").status_code for i in range(5)] == [200] * 5
    refused = hook.send(text="one too many")
    assert refused.status_code == 404 and '"used_url"' in refused.body
    assert [r.ok for r in fake.responses] == [True] * 5 + [False]
    assert fake.responses[0].body == {"text": "update 0"}


def test_response_url_expires_after_30_minutes(fake: FakeSlack, clock: ManualClock) -> None:
    on_time, late = WebhookClient(fake.new_response_url()), WebhookClient(fake.new_response_url())
    clock.advance(30 * 60)
    assert on_time.send(text="just in time").status_code == 200
    clock.advance(0.001)
    answer = late.send(text="too late")
    assert answer.status_code == 404 and '"expired_url"' in answer.body


def test_response_url_checks_blocks_and_replaces_the_original(client: WebClient, fake: FakeSlack) -> None:
    ts = client.chat_postMessage(channel="CPUB", text="before", blocks=[section("before")])["ts"]
    hook = WebhookClient(fake.new_response_url(channel_id="CPUB", message_ts=ts))
    assert hook.send(text="t", blocks=[section("x" * 3001)]).status_code == 400
    assert hook.send(text="after", replace_original=True).status_code == 200
    assert (fake.message("CPUB", ts)["text"], fake.message("CPUB", ts)["blocks"]) == ("after", [])
    fake.fail("response_url", status=500)
    assert hook.send(text="x").status_code == 500
    assert fake.wait_for_call("response_url", count=3, timeout=1)  # all three already answered


# -- Socket Mode ---------------------------------------------------------------------------------------


def test_socket_mode_round_trip_with_builtin_client(fake: FakeSlack) -> None:
    received: list[SocketModeRequest] = []

    def on_request(socket_client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        socket_client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "on it"})
        )

    socket_client = SocketModeClient(
        app_token=fake.app_token, web_client=WebClient(base_url=fake.api_url), auto_reconnect_enabled=False
    )
    socket_client.socket_mode_request_listeners.append(on_request)
    try:
        socket_client.connect()
        assert fake.socket_connected(timeout=5)
        payload = {"command": "/distill", "text": "start", "user_id": "U1", "channel_id": "CPUB"}
        envelope_id = fake.socket_send("slash_commands", payload)
        ack = fake.socket_ack(envelope_id, timeout=5)
    finally:
        socket_client.close()
    assert ack == {"envelope_id": envelope_id, "payload": {"text": "on it"}}
    assert [(r.type, r.payload) for r in received] == [("slash_commands", payload)]
    assert fake.calls_to("apps.connections.open")[0].ok


def test_socket_url_ticket_is_single_use(fake: FakeSlack) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = WebClient(base_url=fake.api_url).apps_connections_open(app_token=fake.app_token)["url"]
    with connect(url) as first:
        assert '"hello"' in str(first.recv(timeout=5))
    with pytest.raises(InvalidStatus):
        connect(url)


def test_bolt_app_over_socket_mode(fake: FakeSlack) -> None:
    """The set-up the bot's own tests use: a Bolt App whose client points at the fake."""
    from slack_bolt import Ack, App, Respond
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app = App(client=WebClient(token=fake.bot_token, base_url=fake.api_url))  # calls auth.test

    @app.command("/distill")
    def distill(ack: Ack, respond: Respond) -> None:
        ack(text="working on it")
        respond(text="done")

    handler = SocketModeHandler(app, fake.app_token)
    handler.client.auto_reconnect_enabled = False
    try:
        handler.connect()
        assert fake.socket_connected(timeout=5)
        response_url = fake.new_response_url()
        envelope_id = fake.socket_send(
            "slash_commands",
            {
                "command": "/distill",
                "text": "",
                "team_id": "T0001",
                "channel_id": "CPUB",
                "user_id": "U1",
                "user_name": "alice",
                "trigger_id": fake.new_trigger_id(),
                "response_url": response_url,
                "api_app_id": "A0001",
            },
        )
        assert fake.socket_ack(envelope_id, timeout=5) == {
            "envelope_id": envelope_id,
            "payload": {"text": "working on it"},
        }
        assert fake.wait_for_call("response_url", timeout=5)
    finally:
        handler.close()
    assert [r.body["text"] for r in fake.responses] == ["done"]
    assert fake.calls[0].method == "auth.test"


def test_history_lists_top_level_messages_newest_first(client: WebClient, fake: FakeSlack) -> None:
    meta = {"event_type": "distill_parent", "event_payload": {"project_id": 7}}
    first = client.chat_postMessage(channel="CPUB", text="first", metadata=meta)["ts"]
    client.chat_postMessage(channel="CPUB", text="reply", thread_ts=first)
    second = client.chat_postMessage(channel="CPUB", text="second")["ts"]
    history = client.conversations_history(channel="CPUB", include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [second, first]
    assert history["messages"][1]["metadata"] == meta
    assert "metadata" not in client.conversations_history(channel="CPUB")["messages"][1]
    assert [m["ts"] for m in client.conversations_history(channel="CPUB", oldest=first)["messages"]] == [
        second
    ]
    assert len(client.conversations_history(channel="CPUB", oldest=first, inclusive=True)["messages"]) == 2
    page = client.conversations_history(channel="CPUB", limit=1)
    assert page["has_more"] and page["response_metadata"]["next_cursor"]
    outside = slack_error(lambda: client.conversations_history(channel="COUTSIDE"))
    assert outside["error"] == "not_in_channel"


# -- scopes and membership (issue 8) ---------------------------------------------------------------


def test_the_fake_grants_exactly_the_manifests_scopes() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[1] / "manifest.yml").read_text())
    assert FakeSlack().scopes == frozenset(manifest["oauth_config"]["scopes"]["bot"])


@pytest.mark.parametrize(
    ("method", "args", "needed"),
    [
        ("chat.postMessage", {"channel": "CPUB", "text": "hi"}, "chat:write"),
        ("chat.update", {"channel": "CPUB", "ts": "1.0", "text": "hi"}, "chat:write"),
        ("conversations.history", {"channel": "CPUB"}, "channels:history"),
        ("conversations.replies", {"channel": "CPRIV", "ts": "1.0"}, "groups:history"),
        ("conversations.info", {"channel": "CPRIV"}, "groups:read"),
        ("conversations.join", {"channel": "COUTSIDE"}, "channels:join"),
        ("users.info", {"user": "U1"}, "users:read"),
    ],
)
def test_a_method_needs_its_scope(clock: ManualClock, method: str, args: Json, needed: str) -> None:
    with FakeSlack(clock=clock, scopes=frozenset({"commands"})) as fake:
        fake.add_channel("CPUB", "general")
        fake.add_channel("CPRIV", "secret-club", is_private=True)
        fake.add_channel("COUTSIDE", "random", is_member=False)
        fake.add_user("U1", "alice")
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        answer = slack_error(lambda: client.api_call(method, json=args))
        assert (answer["error"], answer["needed"]) == ("missing_scope", needed)
        assert fake.scope_refusals == [f"{method} needs {needed}"]
        # auth.test, permalinks and views need no scope at all
        assert client.auth_test()["ok"]


def test_posting_where_the_bot_is_no_member_needs_chat_write_public(clock: ManualClock) -> None:
    with FakeSlack(clock=clock, scopes=frozenset({"chat:write", "channels:join"})) as fake:
        fake.add_channel("COUTSIDE", "random", is_member=False)
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        answer = slack_error(lambda: client.chat_postMessage(channel="COUTSIDE", text="hi"))
        assert answer["error"] == "not_in_channel"
        client.conversations_join(channel="COUTSIDE")
        assert client.chat_postMessage(channel="COUTSIDE", text="hi")["ok"]


def test_posting_is_not_reading_membership_is(client: WebClient, fake: FakeSlack) -> None:
    """chat:write.public lets the bot post in a public channel it has not joined; reading needs a join."""
    ts = client.chat_postMessage(channel="COUTSIDE", text="parent")["ts"]
    assert slack_error(lambda: client.conversations_replies(channel="COUTSIDE", ts=ts))["error"] == (
        "not_in_channel"
    )
    assert slack_error(lambda: client.conversations_history(channel="COUTSIDE"))["error"] == "not_in_channel"
    joined = client.conversations_join(channel="COUTSIDE")
    assert joined["channel"]["is_member"] is True and "warning" not in joined.data
    assert client.conversations_join(channel="COUTSIDE")["warning"] == "already_in_channel"
    assert [m["ts"] for m in client.conversations_replies(channel="COUTSIDE", ts=ts)["messages"]] == [ts]


@pytest.mark.parametrize(
    ("channel", "error"),
    [
        ("CHIDDEN", "channel_not_found"),  # private, not invited: the bot cannot see it
        ("CPRIV", "method_not_supported_for_channel_type"),  # private channels need an invite
        ("DU1", "method_not_supported_for_channel_type"),
        ("COLD", "is_archived"),
        ("CNOPE", "channel_not_found"),
    ],
)
def test_join_refusals(client: WebClient, channel: str, error: str) -> None:
    assert slack_error(lambda: client.conversations_join(channel=channel))["error"] == error
