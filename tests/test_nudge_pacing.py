"""Nudges go out within Slack's posting limits: one a second per channel, a workspace budget."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.fake_slack import FakeSlack
from bot.nudges.pacing import PostingPace
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import FakeClock, RunningBot, VirtualSeconds
from tests.test_nudges import MONDAY_10_UTC, nudges_in_thread


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10_UTC)


def turns(pace: PostingPace, seconds: VirtualSeconds, channels: list[str]) -> list[tuple[str, float]]:
    taken = []
    for channel in channels:
        pace.wait_turn(channel)
        taken.append((channel, seconds()))
    return taken


def test_one_post_per_second_in_a_channel_and_the_workspace_budget_across_channels() -> None:
    seconds = VirtualSeconds()
    pace = PostingPace(120, clock=seconds, sleep=seconds.sleep)  # a post every half second
    taken = turns(pace, seconds, ["C1", "C1", "C2", "C3", "C1", "C1"])
    assert taken == [("C1", 0.0), ("C1", 1.0), ("C2", 1.5), ("C3", 2.0), ("C1", 2.5), ("C1", 3.5)]


def test_a_quiet_pace_lets_the_next_post_go_at_once() -> None:
    seconds = VirtualSeconds()
    pace = PostingPace(60, clock=seconds, sleep=seconds.sleep)
    pace.wait_turn("C1")
    seconds.now += 5
    pace.wait_turn("C1")
    pace.wait_turn("C2")
    assert seconds.waits == [1.0]  # only the third post, in the same second as the second


def test_due_nudges_of_many_channels_take_turns(bot: RunningBot, fake_slack: FakeSlack) -> None:
    for channel in (PROJECT_CHANNEL, OTHER_CHANNEL):
        assert bot.slack.command("start Router", channel=channel).status == 200
    bot.settle()
    bot.clock.advance(timedelta(days=3))  # both stall reminders fall due together
    assert bot.run_nudges() == 2
    assert len(nudges_in_thread(fake_slack, PROJECT_CHANNEL)) == 1
    assert len(nudges_in_thread(fake_slack, OTHER_CHANNEL)) == 1
    assert bot.pace_clock.waits == [1.0]  # the second waited its turn (60 a minute in the tests)
