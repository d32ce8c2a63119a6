"""Every message fits Slack for every input the forms accept (issue 7, finding 1), through the
real endpoint; the property-based sweep over stored state is in test_rendering_properties.py."""

from __future__ import annotations

from bot.fake_slack import FakeSlack
from tests.checklist_flow import (
    PASSING_BARS,
    TEMPLATE,
    block_text,
    fill_form,
    is_ticked,
    phase_messages,
    replies_of,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import RunningBot

CH = PROJECT_CHANNEL


def refused_calls(fake: FakeSlack) -> list[str]:
    return [f"{call.method}: {call.error}" for call in fake.calls if call.error]


def test_twenty_slices_named_mostly_of_ampersands_do_not_stall_the_project(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # Each name is 58 characters as typed and 286 as sent (`&` goes as `&amp;`): the whole
    # form is well under its 2,500-character limit, the committed bars far over 3,000.
    names = [("&" * 57) + chr(ord("A") + n) for n in range(20)]
    slices = "\n".join(
        f"{name} | acc | 0.5{' | critical' if n % 3 == 0 else ''}" for n, name in enumerate(names)
    )
    assert len(slices) <= 2500
    bot.slack.command("start Router")
    bot.settle()
    tick_phase(bot, fake_slack, CH, 1)
    phase_two = fake_slack.message(CH, phase_messages(fake_slack, CH)[1]["ts"])
    assert (
        fill_form(bot, fake_slack, CH, phase_two, "bars:open", {**PASSING_BARS, "slices": slices}).status
        == 200
    )
    phase_two = fake_slack.message(CH, phase_two["ts"])
    assert "Recorded bars: accuracy ≥ 0.9" in block_text(phase_two), "the phase message was redrawn"
    for item in TEMPLATE.phase(2).items:
        bot.slack.click(CH, phase_two["ts"], item.key, selected=True)
        bot.settle()

    assert refused_calls(fake_slack) == []
    assert len(phase_messages(fake_slack, CH)) == 3, "Phase 3 is posted: the gate's move reached Slack"
    [committed] = [m for m in replies_of(fake_slack, CH) if "Committed success bars" in block_text(m)]
    shown = block_text(committed)
    assert all(f"{name.replace('&', '&amp;')} (acc) ≥ 0.5" in shown for name in names), "every slice is shown"


def test_a_refusal_naming_twenty_long_failing_slices_is_answered_and_holds_back_no_click(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    """The answer to a refused tick is kept with the click until its clicker is told: escaped,
    twenty failing slice names came to 10,000 characters, more than PostgreSQL keeps, and the
    refused write failed that click and every later click on the project, on every retry."""
    bot = bot_on_each_db
    slices = "\n".join(f"{'&' * 57}{n:03} | {'&' * 40} | 0.9 | critical" for n in range(20))
    failing = {"overall": "0.93 / 0.95", **{f"slice-{n}": "0.5 / 0.9" for n in range(20)}}

    def phase(number: int) -> dict[str, object]:
        return fake_slack.message(CH, phase_messages(fake_slack, CH)[number - 1]["ts"])

    bot.slack.command("start Router")
    bot.settle()
    tick_phase(bot, fake_slack, CH, 1)
    fill_form(bot, fake_slack, CH, phase(2), "bars:open", {**PASSING_BARS, "slices": slices})
    for item in TEMPLATE.phase(2).items:
        bot.slack.click(CH, str(phase(2)["ts"]), item.key, selected=True)
        bot.settle()
    for number in range(3, 6):
        tick_phase(bot, fake_slack, CH, number)
    fill_form(bot, fake_slack, CH, phase(6), "evaluation:open", failing)

    answered = len(fake_slack.responses)
    bot.slack.click(CH, str(phase(6)["ts"]), "critical-slices", selected=True)
    bot.settle()
    [refusal] = [str(r.body.get("text")) for r in fake_slack.responses[answered:]]
    assert refusal.startswith("Production-critical slices fail") and "more)" in refusal
    assert len(refusal) <= 3000
    bot.slack.click(CH, str(phase(6)["ts"]), "disagreements", selected=True, user="UBOB")
    bot.settle()
    assert is_ticked(phase(6), "disagreements"), "the next click on the project was applied"
