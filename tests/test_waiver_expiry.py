"""Gate decisions are made when they are asked, from stored facts: a waiver stops counting at
its end whether or not the periodic sweep has run, and a lapsed waiver on a phase already
passed brings its item back with a working checkbox."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from storage import queries
from tests.checklist_flow import (
    TEMPLATE,
    block_text,
    fill_form,
    is_ticked,
    item_section,
    phase_messages,
    replies_of,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, RunningBot

CH = PROJECT_CHANNEL
LAST_DAY = "2026-11-30"  # the clock starts on Friday 27 November; the project's zone is UTC
AFTER_LAST_DAY = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    return fake.message(CH, phase_messages(fake, CH)[number - 1]["ts"])


def _click(bot: RunningBot, fake: FakeSlack, number: int, key: str) -> None:
    bot.slack.click(CH, _phase(fake, number)["ts"], key, selected=True)
    bot.settle()


def _waive(bot: RunningBot, fake: FakeSlack, key: str, **extra: str) -> None:
    values = {"item": key, "reason": "The vendor rules quantizing out", **extra}
    assert fill_form(bot, fake, CH, _phase(fake, 1), "waive:open", values).status == 200


def _current_phase(bot: RunningBot) -> int:
    with Session(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, CH)
        assert project is not None
        return project.current_phase


def test_a_waiver_past_its_last_day_no_longer_counts_before_any_sweep(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    bot.slack.command("start Router")
    bot.settle()
    *others, waived, last = TEMPLATE.phase(1).items
    for item in others:
        _click(bot, fake_slack, 1, item.key)
    _waive(bot, fake_slack, waived.key, expires=LAST_DAY)

    bot.clock.advance(AFTER_LAST_DAY - bot.clock())  # the sweep has not run
    _click(bot, fake_slack, 1, last.key)
    assert _current_phase(bot) == 1 and len(phase_messages(fake_slack, CH)) == 1, "the gate stays shut"
    assert "Waived" not in item_section(_phase(fake_slack, 1), waived.key)["text"]["text"]

    # The item is open: an owner may waive it again (or someone ticks it), and then the gate opens.
    _waive(bot, fake_slack, waived.key)
    assert _current_phase(bot) == 2


def test_a_lapsed_waiver_on_a_passed_phase_brings_the_item_back_with_a_working_checkbox(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    bot.slack.command("start Router")
    bot.settle()
    waived, *others = TEMPLATE.phase(1).items
    _waive(bot, fake_slack, waived.key, expires=LAST_DAY)
    for item in others:
        _click(bot, fake_slack, 1, item.key)
    assert _current_phase(bot) == 2

    bot.clock.advance(AFTER_LAST_DAY - bot.clock())
    assert bot.bot.governance.expire_waivers() == 1
    notice = block_text(replies_of(fake_slack, CH)[-1])
    assert f"The waiver on *{waived.title}* (Phase 1) ended" in notice
    assert "tick it in Phase 1's message" in notice
    bot.slack.command("status")
    bot.settle()
    assert f"{waived.title} (Phase 1): its waiver ended" in fake_slack.responses[-1].body["text"]

    shown = item_section(_phase(fake_slack, 1), waived.key)
    assert "open again" in shown["text"]["text"] and not is_ticked(_phase(fake_slack, 1), waived.key)
    _click(bot, fake_slack, 1, waived.key)
    with Session(bot.engine) as session:
        tick = queries.get_tick(session, 1, waived.key)
    assert tick is not None and tick.ticked_by == "UALICE"
    summary = _phase(fake_slack, 1)
    assert f":white_check_mark: *{waived.title}*\n<@UALICE>" in block_text(summary)
    assert not any(block.get("accessory") for block in summary["blocks"]), "read-only again"
    assert _current_phase(bot) == 2
