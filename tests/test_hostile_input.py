"""Hostile input, proven: generated slash-command texts and broken interaction payloads, all signed
the way Slack signs them, through the real endpoint. Whatever arrives: no 5xx, a clear answer
for the user, no ping or link smuggled into that answer, and no change to the stored project
unless the input was valid.

Example counts come from a hypothesis profile: `HYPOTHESIS_PROFILE=thorough` runs ten times more.
"""

from __future__ import annotations

import copy
import json
import os
import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from bot.fake_slack import FakeSlack
from bot.governance import _MENTION
from bot.listeners.common import UNEXPECTED
from bot.nudges import rules
from bot.nudges.timing import zone
from tests.checklist_flow import PASSING_BARS, fill_form, phase_messages, press_button, tick_phase
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import TEAM, HttpResult, RunningBot, click_payload, command_payload, recording_errors

_COMMON: dict[str, Any] = {
    "deadline": None,
    "database": None,  # nothing written into the work tree
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
# CI sees the same examples every run (a failure is never luck); "thorough" explores afresh.
settings.register_profile("ci", derandomize=True, **_COMMON)
settings.register_profile("thorough", **_COMMON)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = 10 if PROFILE == "thorough" else 1
COMMAND_EXAMPLES = 1000 * SCALE
START_EXAMPLES = 150 * SCALE
INTERACTION_EXAMPLES = 1000 * SCALE


# --- what a user can type after /distill --------------------------------------------------------

ENGLISH = [
    "the",
    "a",
    "and",
    "of",
    "to",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "be",
    "this",
    "was",
    "are",
    "not",
    "we",
    "our",
    "please",
    "thanks",
    "hello",
    "why",
    "what",
    "when",
    "how",
    "start",
    "stop",
    "status",
    "help",
    "owners",
    "schedule",
    "timezone",
    "add",
    "remove",
    "every",
    "at",
    "on",
    "off",
    "resume",
    "drift",
    "stall",
    "redistill",
    "yes",
    "no",
    "maybe",
    "later",
    "today",
    "tomorrow",
]
ML_WORDS = [
    "payload",
    "teacher",
    "student",
    "distillation",
    "logits",
    "KL-divergence",
    "temperature=2.0",
    "accuracy",
    "F1",
    "p95",
    "latency",
    "cost",
    "LoRA",
    "epoch",
    "eval",
    "slice",
    "bars",
    "waiver",
    "gap",
    "baseline",
    "GPT-4o",
    "llama-3-8b",
    "0.93",
    "14d",
    "10:00",
    "Europe/Berlin",
    "UTC",
    "command=/distill",
    "text=hi",
    "token=x&y=z",
    "%20",
    "+",
    "=",
    ";",
    "#",
    "?",
    "../",
    "\\n",
    "\\",
    "'",
    '"',
    "`",
    "*",
    "_",
    "~",
]
MENTIONS = st.one_of(
    st.sampled_from(["<!channel>", "<!here>", "<!everyone>", "<!subteam^S0TEAM|@ml-team>"]),
    st.from_regex(r"<@U[A-Z0-9]{4,10}(\|[a-z.]{1,12})?>", fullmatch=True),
    st.from_regex(r"<#C[A-Z0-9]{4,10}\|[a-z-]{1,12}>", fullmatch=True),
    st.sampled_from(["<https://evil.example|re-authenticate>", "<mailto:x@evil.example|help>"]),
)
JSON_LIKE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
).map(json.dumps)
ANY_CHARACTERS = st.text(st.characters(exclude_categories=["Cs"]), max_size=120)
LONG = st.builds(
    lambda seed, size: (seed * (size // max(len(seed), 1) + 1))[:size],
    st.text(min_size=1, max_size=30),
    st.integers(3_900, 4_000),
)
WORDS = st.lists(st.sampled_from(ENGLISH + ML_WORDS) | MENTIONS, min_size=1, max_size=12).map(" ".join)
FREE_TEXT = st.one_of(ANY_CHARACTERS, WORDS, JSON_LIKE, LONG)
SUBCOMMAND = st.sampled_from(["start", "status", "schedule", "timezone", "owners", "help", "START", "Owners"])
COMMAND_TEXT = st.one_of(
    FREE_TEXT,
    st.tuples(SUBCOMMAND, FREE_TEXT).map(" ".join),
    st.tuples(SUBCOMMAND, st.sampled_from(["add", "remove", "drift", "stall", "every", "at"]), FREE_TEXT).map(
        " ".join
    ),
)


def slack_escaped(text: str) -> str:
    """What Slack sends for a command with should_escape: & < > escaped, except its own mentions."""
    parts = re.split(r"(<[@#!][^<>\s]*>|<(?:https?|mailto):[^<>\s]*>)", text)
    return "".join(
        part if index % 2 else part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for index, part in enumerate(parts)
    )


# --- the oracle ------------------------------------------------------------------------------------

# Redraw bookkeeping, not domain state: a refused click bumps the version so the clicker's checkbox resets.
# A click is stored as Slack sent it before anything checks it (received_click, the inbox the
# gate works through after the ack): what must not change is what the gate decides from it.
# The thread's messages (posted_message) are compared too: a refused click redraws nothing new.
BOOKKEEPING = {("project", "version"), ("received_click", "*")}
# Pings and links; the bot's own links are permalinks into the workspace (the fake's host).
SMUGGLED = re.compile(
    r"<(?:!(?:channel|here|everyone|subteam)|#C|https?:(?!//fake\.slack\.com/archives/)|mailto:)"
)


def stored_state(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    tables = {table.name: set(table.columns.keys()) for table in SQLModel.metadata.sorted_tables}
    misnamed = [(t, c) for t, c in BOOKKEEPING if t not in tables or c not in tables[t] | {"*"}]
    assert not misnamed, f"BOOKKEEPING names what is not stored: {misnamed}"  # or it hides nothing
    state: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            if (table.name, "*") in BOOKKEEPING:
                continue
            columns = [column for column in table.columns if (table.name, column.name) not in BOOKKEEPING]
            rows = connection.execute(select(*columns)).all()
            state[table.name] = sorted((tuple(row) for row in rows), key=repr)
    return state


def mrkdwn_texts(value: Any) -> list[str]:
    """The texts Slack formats as mrkdwn: a message's `text` and every mrkdwn text object."""
    found: list[str] = []
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn" or ("blocks" in value and isinstance(value.get("text"), str)):
            found.append(str(value.get("text")))
        for child in value.values():
            found += mrkdwn_texts(child)
    elif isinstance(value, list):
        for child in value:
            found += mrkdwn_texts(child)
    return found


def answer_of(result: HttpResult, fake: FakeSlack, response_url: str) -> str:
    """The one answer the user sees: the ack's own text, or what came back on the response_url."""
    token = response_url.rsplit("/", 1)[1]
    replies = [response for response in fake.responses if response.token == token]
    for reply in replies:
        assert reply.ok, f"Slack refused the answer: {reply.error}"
    texts = [str(reply.body.get("text") or "") for reply in replies]
    if result.body.strip():
        texts.insert(0, str(result.json().get("text") or ""))
    texts = [text for text in texts if text]
    assert len(texts) == 1, f"expected one answer, got {texts!r}"
    return texts[0]


def assert_clear(answer: str) -> None:
    assert answer != UNEXPECTED, "the bot failed on this input"
    assert "Traceback" not in answer and 'File "' not in answer
    assert not SMUGGLED.search(answer), f"user text made a ping or a link: {answer[:300]!r}"


def may_change_state(text: str, user: str, owners: set[str]) -> bool:
    """Whether a command text is valid and so may change stored state (the project exists)."""
    subcommand, _, argument = text.strip().partition(" ")
    subcommand = subcommand.lower()
    if subcommand == "schedule":
        if argument.strip().lower() == "resume":
            return True
        try:
            rules.parse_schedule_change(argument)
        except ValueError:
            return False
        return True
    if subcommand == "timezone":
        try:
            zone(argument.strip())
        except ValueError:
            return False
        return True
    if subcommand == "owners":
        verb, _, rest = argument.strip().partition(" ")
        return verb.lower() in {"add", "remove"} and bool(_MENTION.match(rest.strip())) and user in owners
    return False


# --- slash commands --------------------------------------------------------------------------------


def _send_command(
    bot: RunningBot, fake: FakeSlack, text: str, channel: str, user: str
) -> tuple[HttpResult, str]:
    payload = command_payload(fake, text, channel, user, TEAM)
    result = bot.slack.post(urllib.parse.urlencode(payload).encode())
    bot.settle()
    return result, payload["response_url"]


def test_any_command_text_gets_a_clear_answer_and_only_valid_ones_change_anything(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    assert _send_command(bot, fake_slack, "start Router", PROJECT_CHANNEL, "UALICE")[0].status == 200
    sent = 0

    @settings(settings.get_profile(PROFILE), max_examples=COMMAND_EXAMPLES)
    @given(text=COMMAND_TEXT, escape=st.booleans(), user=st.sampled_from(["UALICE", "UBOB"]))
    # What it found before (each was echoed into mrkdwn unescaped), kept as fixed cases.
    @example(text="<!CHANNEL", escape=False, user="UALICE")
    @example(text="timezone <!channel>", escape=True, user="UALICE")
    @example(text="schedule drift every <https://evil.example|14d>", escape=True, user="UBOB")
    @example(text="schedule <!here> on", escape=True, user="UBOB")
    def check(text: str, escape: bool, user: str) -> None:
        nonlocal sent
        text = slack_escaped(text) if escape else text
        before = stored_state(bot.engine)
        owners = {row[2] for row in before["owner"]}
        result, response_url = _send_command(bot, fake_slack, text, PROJECT_CHANNEL, user)
        sent += 1
        assert result.status == 200, (result, text)
        assert_clear(answer_of(result, fake_slack, response_url))
        if stored_state(bot.engine) != before:
            assert may_change_state(text, user, owners), f"{text!r} changed stored state"

    check()
    print(f"\n{sent} command requests")


# Bolt takes any form body containing "payload" for an interaction and drops the command;
# the request path hands Bolt slash commands as JSON (issue 8, finding 7).
@pytest.mark.parametrize("text", ["payload", "start payload router", "status payload=1"])
def test_a_command_mentioning_payload_reaches_the_handler(
    bot: RunningBot, fake_slack: FakeSlack, text: str
) -> None:
    result, response_url = _send_command(bot, fake_slack, text, PROJECT_CHANNEL, "UALICE")
    assert result.status == 200
    if text.startswith("start "):  # a start that works answers with its thread, not a reply
        bot.settle()
        assert any("payload router" in m["text"] for m in fake_slack.messages(PROJECT_CHANNEL))
        return
    assert_clear(answer_of(result, fake_slack, response_url))


def test_any_project_name_starts_a_project_that_renders_or_a_clear_refusal(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    channels = iter(range(10_000))

    @settings(settings.get_profile(PROFILE), max_examples=START_EXAMPLES)
    @given(name=FREE_TEXT)
    def check(name: str) -> None:
        channel = f"C0NEW{next(channels):05d}"
        fake_slack.add_channel(channel, "new-project")
        before = stored_state(bot.engine)
        result, response_url = _send_command(
            bot, fake_slack, "start " + slack_escaped(name), channel, "UALICE"
        )
        assert result.status == 200
        if fake_slack.messages(channel):
            # Started: the thread is there, fits Slack's limits (the fake checks) and pings nobody.
            posted = phase_messages(fake_slack, channel)
            for message in [*fake_slack.messages(channel), *posted]:
                for text in mrkdwn_texts(message):
                    assert not SMUGGLED.search(text), text
            assert stored_state(bot.engine) != before
        else:
            assert_clear(answer_of(result, fake_slack, response_url))
            assert stored_state(bot.engine) == before, "a refused start left something behind"

    check()


# --- interaction payloads --------------------------------------------------------------------------

WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=30),
    st.just([]),
    st.just({}),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
# Ids that exist, but elsewhere: another project's, another phase's, another item's, or none at all.
FOREIGN_IDS = st.sampled_from(
    [
        "item:2:1:narrow-task:0",
        "item:2:1:narrow-task:99",
        "item:1:2:quality-bar:1",
        "item:1:1:edge-cases:1",
        "item:999:1:narrow-task:1",
        "item:1:1:volume-justifies:1",
        "item:1:8:narrow-task:1",
        "item:0:0:x:0",
        "2:1",
        "1:7",
        "999:1",
        "1:0",
        "-1:1",
        "1",
        "",
        "nudge:no_drift",
        "bars:open",
        "waive:open",
        "C0OTHER",
        "C0SECRET",
        "D0DIRECT",
        "T0OTHER",
        "UBOB",
        "U0NOBODY",
        "999",
        "0",
        "-1",
        "1e9",
        "item:narrow-task",
        "item:edge-cases",
        "item:payback-period",
    ]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path into a payload, parents before children."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _break(payload: dict[str, Any], draw: Callable[[Any], Any]) -> dict[str, Any]:
    """One to three structural breaks: a field removed, of the wrong type, or naming something else."""
    broken = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(broken)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = broken
        for key in path[:-1]:
            parent = parent[key]
        how = draw(st.sampled_from(["remove", "wrong type", "foreign id"]))
        if how == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif how == "wrong type":
            parent[path[-1]] = draw(WRONG_TYPES)
        else:
            parent[path[-1]] = draw(FOREIGN_IDS)
    return broken


def _passed_phase_click(payload: dict[str, Any]) -> dict[str, Any]:
    """The same click, on Phase 1's first item (a passed phase shows no checkboxes any more)."""
    action = payload["actions"][0]
    action["block_id"] = re.sub(r"^item:(\d+):\d+:[a-z-]+:", r"item:\1:1:narrow-task:", action["block_id"])
    action["action_id"] = "item:narrow-task"
    for option in action["selected_options"]:
        option["value"] = "narrow-task"
    return payload


def test_broken_interaction_payloads_get_a_clear_answer_and_change_nothing(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # Two projects: ours (phase 1 done, phase 2 open, bars recorded) and one in another channel.
    bot.slack.command("start Router")
    bot.settle()
    tick_phase(bot, fake_slack, PROJECT_CHANNEL, 1)
    bot.slack.command("start Other", channel=OTHER_CHANNEL)
    bot.settle()
    phase_two = phase_messages(fake_slack, PROJECT_CHANNEL)[1]
    assert fill_form(bot, fake_slack, PROJECT_CHANNEL, phase_two, "bars:open", PASSING_BARS).status == 200
    phase_two = fake_slack.message(PROJECT_CHANNEL, phase_two["ts"])

    # Payloads whose valid form changes nothing: a tick on a passed phase (read-only), a tick
    # that is already there, a nudge answer and the forms' buttons and submissions.
    press_button(bot, PROJECT_CHANNEL, phase_two, "bars:open")
    bars_view = fake_slack.views[-1]
    bases: list[dict[str, Any]] = [
        _passed_phase_click(
            click_payload(fake_slack, phase_two, PROJECT_CHANNEL, "slice-bars", False, "UALICE", TEAM)
        ),
        _passed_phase_click(
            click_payload(fake_slack, phase_two, PROJECT_CHANNEL, "slice-bars", True, "UBOB", TEAM)
        ),
        click_payload(fake_slack, phase_two, PROJECT_CHANNEL, "quality-bar", False, "UBOB", TEAM),
        {
            **click_payload(fake_slack, phase_two, PROJECT_CHANNEL, "quality-bar", True, "UALICE", TEAM),
            "actions": [
                {
                    "type": "button",
                    "action_id": "nudge:no_drift",
                    "block_id": "nudge",
                    "value": "1",
                    "action_ts": "1",
                }
            ],
        },
        {
            **click_payload(fake_slack, phase_two, PROJECT_CHANNEL, "quality-bar", True, "UBOB", TEAM),
            "actions": [
                {
                    "type": "button",
                    "action_id": "waive:open",
                    "block_id": "forms",
                    "value": "1:2",
                    "action_ts": "1",
                }
            ],
        },
        {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "fake"},
            "user": {"id": "UBOB", "username": "ubob", "team_id": TEAM},
            "api_app_id": "A0DISTILL",
            "trigger_id": fake_slack.new_trigger_id(),
            "view": {**bars_view, "state": {"values": {}}},
        },
    ]
    bot.settle()
    sent = 0

    @settings(settings.get_profile(PROFILE), max_examples=INTERACTION_EXAMPLES)
    @given(base=st.sampled_from(range(len(bases))), data=st.data())
    def check(base: int, data: st.DataObject) -> None:
        nonlocal sent
        payload = _break(bases[base], data.draw)
        response_url = fake_slack.new_response_url()
        if isinstance(payload.get("response_url"), str):
            payload["response_url"] = response_url
        before = stored_state(bot.engine)
        result = bot.slack.interact(payload)
        bot.settle()
        sent += 1
        assert result.status in {200, 400, 404}, (result, payload)
        assert failures.pop() == [], f"a listener failed on {payload!r}"
        assert "Traceback" not in result.body
        if (
            result.status == 200
            and payload.get("type") == "block_actions"
            and payload.get("response_url") == response_url
        ):
            token = response_url.rsplit("/", 1)[1]
            for reply in [r for r in fake_slack.responses if r.token == token]:
                assert reply.ok and reply.body.get("text") != UNEXPECTED, (reply.body, payload)
        assert stored_state(bot.engine) == before, f"a broken payload changed stored state: {payload!r}"

    # Errors a listener raised that only the app's last-resort handler caught.
    with recording_errors("bot.app") as failures:
        check()
    print(f"\n{sent} interaction requests")
