"""Bounded work per request: the HTTP layer refuses early, health checks never wait on writers,
a nudge answer touches its own project only, and a full background pool says so at once."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from bot.background import BUSY
from bot.fake_slack import FakeSlack
from bot.fake_slack.server import ManualClock
from bot.nudges import rules
from bot.server import MAX_BODY_BYTES
from storage import queries
from tests.checklist_flow import TEMPLATE, is_ticked, phase_messages, press_button, press_nudge, replies_of
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import TEAM, FakeClock, RunningBot, click_payload, http

MONDAY_10_UTC = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10_UTC)


def replies_to_user(fake: FakeSlack) -> list[str]:
    return [response.body.get("text", "") for response in fake.responses]


def nudges_in(fake: FakeSlack, channel: str) -> list[dict[str, object]]:
    return [
        m
        for m in replies_of(fake, channel)
        if (m.get("metadata") or {}).get("event_type") == "distill_nudge"  # type: ignore[union-attr]
    ]


# --- the HTTP layer -------------------------------------------------------------------------------


def test_an_oversized_body_is_refused_by_waitress_before_it_is_read(bot: RunningBot) -> None:
    """Only the headers are sent: a server that waits to read 50 MB never answers."""
    with socket.create_connection(("127.0.0.1", bot.server.port), timeout=5) as connection:
        connection.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            + f"Content-Length: {50 * MAX_BODY_BYTES}\r\n\r\n".encode()
        )
        status_line = connection.recv(4096).split(b"\r\n", 1)[0]
    assert b" 413 " in status_line, status_line


def test_health_answers_while_another_writer_holds_the_sqlite_file(bot: RunningBot, sqlite_url: str) -> None:
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # a long write transaction elsewhere
        assert http("GET", bot.base_url + "/healthz", timeout=5).status == 200
        writer.execute("ROLLBACK")
    finally:
        writer.close()


# --- nudge answers -------------------------------------------------------------------------------


def test_a_nudge_answer_sends_nothing_for_other_projects(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.set_channel(OTHER_CHANNEL, is_member=True)
    bot.slack.command("start Router", channel=PROJECT_CHANNEL)
    bot.settle()
    bot.clock.advance(timedelta(days=3))
    assert bot.run_nudges() == 1  # the router's stall reminder
    [reminder] = nudges_in(fake_slack, PROJECT_CHANNEL)

    bot.slack.command("start Ranker", channel=OTHER_CHANNEL)
    bot.settle()
    bot.clock.advance(timedelta(days=7))  # the ranker's stall reminder falls due, unsent
    press_nudge(bot, PROJECT_CHANNEL, reminder, rules.Answer.SNOOZE_STALL)
    assert nudges_in(fake_slack, OTHER_CHANNEL) == []  # the click went over its own nudge only
    assert bot.run_nudges() >= 1  # the scheduler's pass sends it
    assert len(nudges_in(fake_slack, OTHER_CHANNEL)) == 1


# --- the background pool -------------------------------------------------------------------------


@pytest.fixture
def small_pool_bot(fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock) -> Iterator[RunningBot]:
    running = RunningBot(fake_slack, sqlite_url, clock, background_queue=3)
    yield running
    running.stop()


def test_a_full_background_pool_answers_busy_in_the_ack_and_stores_nothing(
    small_pool_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    bot = small_pool_bot
    channels = [f"C0BUSY{n}" for n in range(5)]
    for channel in channels:
        fake_slack.add_channel(channel, channel.lower())
    held = fake_slack.hold("chat.postMessage")
    try:
        # Three fill the pool (each waits on Slack); two find it full and are told in the ack.
        acks = [bot.slack.command("start Busy", channel=channel).body for channel in channels]
        assert [json.loads(ack)["text"] for ack in acks if ack] == [BUSY, BUSY]
    finally:
        held.set()
    bot.settle()
    with Session(bot.engine) as session:
        started = [c for c in channels if queries.get_open_project(session, TEAM, c) is not None]
    assert len(started) == 3 and not any(BUSY in text for text in replies_to_user(fake_slack))
    refused = next(c for c in channels if c not in started)
    bot.slack.command("start Busy", channel=refused)  # a moment later there is room again
    bot.settle()
    with Session(bot.engine) as session:
        assert queries.get_open_project(session, TEAM, refused) is not None


def test_a_tick_finding_the_pool_full_is_stored_and_applied_by_the_beat(
    small_pool_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """The click is stored before the ack, so a full pool loses nothing, and says nothing: the
    clicker's checkbox shows the tick already, and a reply to every click of a burst would be
    noise when the bot is busiest. The beat applies it and brings the thread up."""
    bot = small_pool_bot
    bot.slack.command("start Router")
    bot.settle()
    phase_one = phase_messages(fake_slack, PROJECT_CHANNEL)[0]
    items = [item.key for item in TEMPLATE.phase(1).items]
    held = fake_slack.hold("chat.postMessage")
    try:
        for n in range(3):  # three starts fill the pool, each waiting on Slack to post its parent
            fake_slack.add_channel(f"C0FULL{n}", f"full-{n}")
            assert not bot.slack.command("start Other", channel=f"C0FULL{n}").body  # accepted
        assert fake_slack.wait_for_arrival("chat.postMessage", count=3)
        clicked = bot.slack.click(
            PROJECT_CHANNEL, phase_one["ts"], items[3], selected=True, message=phase_one
        )
        assert clicked.status == 200
        assert replies_to_user(fake_slack) == []
        # A stale checkbox then is told "busy" through a response_url that hangs: from a thread
        # of its own, so the ack still goes (inline, it would wait for the reply).
        stale = click_payload(fake_slack, phase_one, PROJECT_CHANNEL, items[4], True, "UALICE", TEAM)
        stale["actions"][0]["block_id"] = "item:stale"
        slow_replies = fake_slack.hold("response_url")
        answers: list[int] = []
        staler = threading.Thread(target=lambda: answers.append(bot.slack.interact(stale).status))
        staler.start()
        assert fake_slack.wait_for_arrival("response_url")  # the reply is on its way, and hangs...
        staler.join(timeout=5)  # ... while the click is answered
        assert answers == [200]
        slow_replies.set()
    finally:
        held.set()
    bot.settle()
    assert fake_slack.wait_for_call("response_url")
    assert replies_to_user(fake_slack) == [BUSY]
    with Session(bot.engine) as session:
        assert queries.get_tick(session, 1, items[3]) is None  # received, not applied yet
    bot.clock.advance(timedelta(seconds=30))
    # The beat applies the click nobody took, then brings the thread up to the fourth tick.
    assert bot.bot.clicks.apply_left_waiting() == 1
    bot.bot.workflow.slack_sync.repair()
    with Session(bot.engine) as session:
        assert queries.get_tick(session, 1, items[3]) is not None
    bot.settle()
    assert is_ticked(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), items[3])


@pytest.mark.parametrize("opened_by", ["the Waive button", "/distill stop"])
def test_a_form_opens_while_slow_work_fills_the_background_pool(sqlite_url: str, opened_by: str) -> None:
    """A form must open within the 3 seconds its trigger_id lasts: from the modal pool, never
    behind the background's work waiting on a slow Slack (`/distill stop` was, and its form
    failed to open with expired_trigger_id)."""
    slack_clock = ManualClock()
    with FakeSlack(clock=slack_clock) as fake:
        fake.add_channel(PROJECT_CHANNEL, "support-router")
        fake.add_user("UALICE", "alice")
        bot = RunningBot(fake, sqlite_url, FakeClock(MONDAY_10_UTC))
        try:
            assert bot.slack.command("start Router").status == 200
            bot.settle()
            phase_one = phase_messages(fake, PROJECT_CHANNEL)[0]
            posted = fake.arrivals("chat.postMessage")
            slow_slack = fake.hold("chat.postMessage")
            for n in range(8):  # every background worker waits on a post Slack holds
                fake.add_channel(f"C0BUSY{n}", f"busy-{n}")
                assert bot.slack.command("start Other", channel=f"C0BUSY{n}").status == 200
            assert fake.wait_for_arrival("chat.postMessage", count=posted + 8)
            if opened_by == "/distill stop":
                assert bot.slack.command("stop").status == 200
            else:
                assert press_button(bot, PROJECT_CHANNEL, phase_one, "waive:open", wait=False).status == 200
            bot.executor.wait_idle()
            bot.modals.wait_idle()
            slack_clock.advance(4)  # what still waits now would find its trigger_id expired
            slow_slack.set()
            bot.settle()
            assert len(fake.views) == 1, replies_to_user(fake)
        finally:
            bot.stop()
