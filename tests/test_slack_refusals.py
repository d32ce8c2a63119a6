"""A message Slack refuses for good never blocks the rest of the thread, and the team is told."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from bot.slack_sync import SETTLE
from storage import queries
from storage.models import MessageKind
from tests.checklist_flow import (
    PASSING_BARS,
    TEMPLATE,
    block_text,
    fill_form,
    phase_messages,
    press_button,
    replies_of,
    submit_view,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import RunningBot

CH = PROJECT_CHANNEL


def _all_but_the_last_tick_of_phase_two(bot: RunningBot, fake: FakeSlack) -> str:
    bot.slack.command("start Router")
    bot.settle()
    tick_phase(bot, fake, CH, 1)
    phase_two = fake.message(CH, phase_messages(fake, CH)[1]["ts"])
    assert fill_form(bot, fake, CH, phase_two, "bars:open", PASSING_BARS).status == 200
    *first, last = TEMPLATE.phase(2).items
    for item in first:
        bot.slack.click(CH, phase_two["ts"], item.key, selected=True)
        bot.settle()
    return last.key


def _tick(bot: RunningBot, fake: FakeSlack, key: str) -> None:
    bot.slack.click(CH, phase_messages(fake, CH)[1]["ts"], key, selected=True)
    bot.settle()


def _status(bot: RunningBot, fake: FakeSlack) -> str:
    bot.slack.command("status")
    bot.settle()
    return str(fake.responses[-1].body["text"])


def _thread_texts(fake: FakeSlack) -> list[str]:
    return [block_text(m) for m in replies_of(fake, CH)]


def _message(bot: RunningBot, kind: str, phase_number: int) -> Any:
    with Session(bot.engine) as session:
        return next(
            m for m in queries.list_messages(session, 1) if (m.kind, m.phase_number) == (kind, phase_number)
        )


def test_a_refused_message_is_skipped_recorded_and_reported(bot: RunningBot, fake_slack: FakeSlack) -> None:
    last = _all_but_the_last_tick_of_phase_two(bot, fake_slack)
    # Passing Phase 2 posts "Phase 2 complete", the committed bars and Phase 3, in that order.
    # Slack refuses the first of them for good.
    fake_slack.fail("chat.postMessage", error="invalid_blocks")
    _tick(bot, fake_slack, last)

    texts = _thread_texts(fake_slack)
    assert not any("Phase 2 complete" in text for text in texts)
    assert any("Committed success bars" in text for text in texts), "the bars wait for nothing"
    assert len(phase_messages(fake_slack, CH)) == 3, "Phase 3 is posted after the refused message"
    refused = _message(bot, MessageKind.PHASE_DONE, 2)
    assert (refused.ts, refused.refused_reason) == (None, "invalid_blocks")

    status = _status(bot, fake_slack)
    assert 'Slack refused the "Phase 2 complete" notice (`invalid_blocks`)' in status
    assert "does not show it" in status and "It is sent again" in status

    # The rest of the thread keeps moving, and the refused message is not retried as it stands.
    posts = len(fake_slack.calls_to("chat.postMessage"))
    bot.bot.workflow.slack_sync.repair()
    tick_phase(bot, fake_slack, CH, 3)
    assert len(phase_messages(fake_slack, CH)) == 4
    phase_done_posts = [
        c for c in fake_slack.calls_to("chat.postMessage")[posts:] if "Phase 2 complete" in str(c.args)
    ]
    assert phase_done_posts == []


def test_a_message_not_posted_yet_still_holds_the_thread_in_order(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    last = _all_but_the_last_tick_of_phase_two(bot, fake_slack)
    fake_slack.fail("chat.postMessage", error="internal_error")  # Slack's own trouble: try again
    _tick(bot, fake_slack, last)

    assert len(phase_messages(fake_slack, CH)) == 2, "nothing is posted ahead of the waiting message"
    assert _message(bot, MessageKind.PHASE_DONE, 2).refused_reason is None
    assert "Slack refused" not in _status(bot, fake_slack)

    bot.bot.workflow.slack_sync.repair()  # internal_error may have stored it: wait for Slack to settle
    assert len(phase_messages(fake_slack, CH)) == 2
    bot.clock.advance(SETTLE)
    bot.bot.workflow.slack_sync.repair()
    texts = _thread_texts(fake_slack)
    done_at = next(i for i, text in enumerate(texts) if "Phase 2 complete" in text)
    bars_at = next(i for i, text in enumerate(texts) if "Committed success bars" in text)
    assert done_at < bars_at and len(phase_messages(fake_slack, CH)) == 3


def test_a_refused_redraw_is_reported_until_a_change_redraws_it(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    last = _all_but_the_last_tick_of_phase_two(bot, fake_slack)
    _tick(bot, fake_slack, last)
    [committed] = [m for m in replies_of(fake_slack, CH) if "Committed success bars" in block_text(m)]

    def amend(threshold: str) -> None:
        press_button(bot, CH, fake_slack.message(CH, committed["ts"]), "bars:open")
        values = {**PASSING_BARS, "quality_threshold": threshold, "reason": "Label noise"}
        assert submit_view(bot, fake_slack.views[-1], values).status == 200

    # An amendment redraws the parent, Phase 2 and the bars; Slack refuses every one of them.
    updates = len(fake_slack.calls_to("chat.update"))
    fake_slack.fail("chat.update", error="invalid_blocks", times=3)
    amend("0.88")
    assert len(fake_slack.calls_to("chat.update")) == updates + 3
    assert "accuracy ≥ 0.88" not in block_text(fake_slack.message(CH, committed["ts"]))
    status = _status(bot, fake_slack)
    assert "Slack refused the committed success bars (`invalid_blocks`)" in status
    assert "shows an older version of it" in status
    bot.bot.workflow.slack_sync.repair()  # the same content is not sent again
    assert len(fake_slack.calls_to("chat.update")) == updates + 3

    amend("0.87")  # what it shows changed: drawn again, and the note goes
    assert "accuracy ≥ 0.87" in block_text(fake_slack.message(CH, committed["ts"]))
    assert "Slack refused" not in _status(bot, fake_slack)
