"""No user text reaches Slack's formatting unescaped (issue 8, finding 3), through the real endpoint."""

from __future__ import annotations

from typing import Any

from bot.fake_slack import FakeSlack
from bot.fake_slack.server import WORKSPACE_URL
from tests.checklist_flow import (
    PASSING_BARS,
    PASSING_EVALUATION,
    TEMPLATE,
    fill_form,
    phase_messages,
    press_button,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.mrkdwn_checks import mrkdwn_texts, planted_sequences, unescaped_ampersands
from tests.support import RunningBot

CH = PROJECT_CHANNEL
HOSTILE = "<!channel> <https://evil.example|re-authenticate>"


def phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    return fake.message(CH, phase_messages(fake, CH)[number - 1]["ts"])


def everything_sent(fake: FakeSlack) -> list[Any]:
    """Every message, update, ephemeral and view the bot sent, and every response_url answer."""
    return [call.args for call in fake.calls] + [response.body for response in fake.responses]


def test_a_slice_and_a_metric_named_to_ping_the_channel_and_plant_a_link_stay_text(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    bot.slack.command("start Router")
    bot.settle()
    tick_phase(bot, fake_slack, CH, 1)
    # The slices field splits on `|`: typed as it is, the name holds the ping and the link's
    # start, the metric its disguise, and the table shows "name (metric)".
    hostile_bars = {
        **PASSING_BARS,
        "quality_metric": HOSTILE,
        "slices": f"{HOSTILE}|0.85|critical\nsmalltalk | accuracy | 0.7",
    }
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 2), "bars:open", hostile_bars).status == 200
    for item in TEMPLATE.phase(2).items:
        bot.slack.click(CH, phase(fake_slack, 2)["ts"], item.key, selected=True)
        bot.settle()
    for number in range(3, 6):
        tick_phase(bot, fake_slack, CH, number)

    # The evaluation form's intro names the quality metric; the hostile slice fails its bar.
    press_button(bot, CH, phase(fake_slack, 6), "evaluation:open")
    intro = fake_slack.views[-1]["blocks"][0]["text"]["text"]
    assert "&lt;!channel&gt;" in intro
    failing = {**PASSING_EVALUATION, "slice-0": "0.5 / 0.9"}
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", failing).status == 200
    # Ticking the critical-slices item is refused privately, naming the failing slice.
    bot.slack.click(CH, phase(fake_slack, 6)["ts"], "critical-slices", selected=True)
    bot.settle()
    refusal = fake_slack.responses[-1].body["text"]
    assert "Production-critical slices fail their bars (&lt;!channel&gt; &lt;https://evil.example" in refusal

    bot.slack.command("status")
    bot.settle()
    assert f"<{WORKSPACE_URL}" in fake_slack.responses[-1].body["text"], "status links to the thread"

    sent = everything_sent(fake_slack)
    texts = [text for payload in sent for text in mrkdwn_texts(payload)]
    assert any("evil.example" in text for text in texts), "the hostile names were shown"
    planted = {
        text: problems
        for text in texts
        if (
            problems := planted_sequences(text, users={"UALICE"}, links={WORKSPACE_URL})
            + unescaped_ampersands(text)
        )
    }
    assert planted == {}


def test_slash_command_text_quoted_back_stays_text(bot: RunningBot, fake_slack: FakeSlack) -> None:
    bot.slack.command("start Router")
    bot.settle()
    # What Slack sends (should_escape): mentions and links as control sequences, a typed `<` as `&lt;`.
    unknown = bot.slack.command("<!channel>").json()["text"]
    quoted = [unknown]
    for typed in (
        "schedule drift every <!channel>",
        "schedule drift at <!here>",
        "timezone <https://evil.example|re-authenticate>",
        "timezone &lt;!everyone&gt;",
    ):
        bot.slack.command(typed)
        bot.settle()
        quoted.append(fake_slack.responses[-1].body["text"])
    for hostile, answer in zip(
        [
            "&lt;!channel&gt;",
            "&lt;!channel&gt;",
            "&lt;!here&gt;",
            "&lt;https://evil.example|",
            "&lt;!everyone&gt;",
        ],
        quoted,
        strict=True,
    ):
        assert hostile in answer, "the reply quotes what was typed, as text"
        assert planted_sequences(answer) == [] and unescaped_ampersands(answer) == []
