"""Re-distillation carries the committed bars: a second cycle passes its gates on its own evidence."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from bot.nudges import rules
from storage import queries
from tests.checklist_flow import (
    PASSING_BARS,
    PASSING_EVALUATION,
    TEMPLATE,
    block_text,
    fill_form,
    press_button,
    submit_view,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, RunningBot

CH = PROJECT_CHANNEL


def _parents(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in fake.messages(CH) if m.get("thread_ts") in (None, m["ts"])]


def _thread(fake: FakeSlack) -> list[dict[str, Any]]:
    """The newest cycle's thread, replies only, as Slack shows them now."""
    parent = _parents(fake)[-1]
    return [fake.message(CH, m["ts"]) for m in fake.messages(CH, thread_ts=parent["ts"])[1:]]


def _phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    heading = f"Phase {number} of {len(TEMPLATE.phases)}"
    return next(
        m
        for m in _thread(fake)
        if m["blocks"]
        and m["blocks"][0]["type"] == "header"
        and m["blocks"][0]["text"]["text"].startswith(heading)
    )


def _tick_all(bot: RunningBot, fake: FakeSlack, number: int) -> None:
    message = _phase(fake, number)
    for item in TEMPLATE.phase(number).items:
        assert bot.slack.click(CH, message["ts"], item.key, selected=True).status == 200
        bot.settle()


def _project(bot: RunningBot) -> Any:
    with Session(bot.engine) as session:
        return queries.get_open_project(session, TEAM, CH)


def _press_nudge(bot: RunningBot, fake: FakeSlack, answer: rules.Answer, user: str) -> None:
    nudge = [m for m in _thread(fake) if (m.get("metadata") or {}).get("event_type") == "distill_nudge"][-1]
    press_button(bot, CH, nudge, f"nudge:{answer.key}", user)


def test_cycle_two_starts_from_the_committed_bars_and_ships_on_its_own_evidence(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    bot.slack.command("start Router")
    bot.settle()
    for number in range(1, len(TEMPLATE.phases) + 1):
        tick_phase(bot, fake_slack, CH, number)
    first = _project(bot)
    assert first.status == "shipped" and first.bars_committed_at is not None

    bot.clock.advance(timedelta(days=7))
    assert bot.run_nudges() == 1
    _press_nudge(bot, fake_slack, rules.Answer.DRIFT_FOUND, "UBOB")
    _press_nudge(bot, fake_slack, rules.Answer.START_REDISTILL, "UALICE")
    second = _project(bot)
    assert second.cycle == 2 and second.current_phase == 3
    assert (second.bars_committed_at, second.bars_committed_by) == (
        first.bars_committed_at,
        first.bars_committed_by,
    )
    with Session(bot.engine) as session:
        carried = queries.current_bars(session, second.id)
        assert carried is not None
        bars, slices = carried
        assert (bars.quality_metric, bars.quality_threshold) == ("accuracy", 0.9)
        assert [(s.name, s.critical) for s in slices] == [("billing", True), ("smalltalk", False)]
        assert queries.list_evaluations(session, second.id) == [], "evaluations are the cycle's own"

    # The new thread shows the bars it starts from, and owners may amend them, with a reason.
    [committed] = [m for m in _thread(fake_slack) if "Committed success bars" in block_text(m)]
    assert "billing (accuracy) ≥ 0.85 (critical)" in block_text(committed)
    press_button(bot, CH, committed, "bars:open", "UALICE")
    amend = fake_slack.views[-1]
    assert amend["title"]["text"] == "Amend success bars"
    no_reason = submit_view(bot, amend, {**PASSING_BARS, "quality_threshold": "0.91"}).json()
    assert no_reason["response_action"] == "errors"
    amended = {**PASSING_BARS, "quality_threshold": "0.91", "reason": "Traffic drifted to billing"}
    assert submit_view(bot, amend, amended).status == 200
    assert "accuracy ≥ 0.91" in block_text(fake_slack.message(CH, committed["ts"]))

    # Phases 3 to 7 on cycle 2's own evidence: the evaluation is recorded in this cycle.
    for number in range(3, len(TEMPLATE.phases) + 1):
        if number == 6:
            result = fill_form(
                bot, fake_slack, CH, _phase(fake_slack, 6), "evaluation:open", PASSING_EVALUATION
            )
            assert result.status == 200
        if number == 7:  # gradual rollout is ticked after a partial stage
            assert bot.slack.command("rollout 5").status == 200
            bot.settle()
        _tick_all(bot, fake_slack, number)
    shipped = _project(bot)
    assert shipped.id == second.id and shipped.status == "shipped"
    with Session(bot.engine) as session:
        assert len(queries.list_evaluations(session, second.id)) == 1
        assert {t.item_key for t in queries.list_ticks(session, second.id)} == {
            item.key for phase in TEMPLATE.phases for item in phase.items
        }
    assert "Shipped" in block_text(fake_slack.message(CH, _parents(fake_slack)[-1]["ts"]))
