"""Nudges end to end: the real endpoint, the fake Slack, an injected clock, no sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from bot.fake_slack import FakeSlack
from bot.nudges import rules
from bot.slack_sync import SETTLE
from storage import queries
from storage.models import NudgeStatus
from tests.checklist_flow import (
    TEMPLATE,
    block_text,
    parent_of,
    phase_messages,
    press_nudge,
    replies_of,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, FakeClock, RunningBot

MONDAY_10_UTC = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_10_UTC)


def nudges_in_thread(fake: FakeSlack, channel: str = PROJECT_CHANNEL) -> list[dict[str, Any]]:
    return [
        m for m in replies_of(fake, channel) if (m.get("metadata") or {}).get("event_type") == "distill_nudge"
    ]


def nudge_posts(fake: FakeSlack) -> list[Any]:
    return [call for call in fake.calls_to("chat.postMessage") if call.ok and call.args.get("metadata")]


def replies_to_user(fake: FakeSlack) -> list[str]:
    return [response.body.get("text", "") for response in fake.responses]


def advance_to(bot: RunningBot, moment: datetime) -> int:
    bot.clock.advance(moment - bot.clock())
    return bot.run_nudges()


def start_project(bot: RunningBot, name: str = "Router") -> None:
    bot.slack.command(f"start {name}")
    bot.settle()


def ship(bot: RunningBot, fake: FakeSlack) -> None:
    start_project(bot)
    for phase_number in range(1, len(TEMPLATE.phases) + 1):
        tick_phase(bot, fake, PROJECT_CHANNEL, phase_number)
    assert "Shipped" in block_text(parent_of(fake, PROJECT_CHANNEL))


def schedule_of(bot: RunningBot, kind: str) -> Any:
    with Session(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
        assert project is not None
        return next(s for s in queries.list_schedules(session, project.id or 0) if s.kind == kind)


def all_nudges(bot: RunningBot) -> list[Any]:
    with Session(bot.engine) as session:
        return queries.list_nudges(session)


# --- stalled phases ---------------------------------------------------------------------------


def test_stall_reminder_after_three_quiet_days_then_every_two_working_days(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start_project(bot)  # Monday 10:00
    assert advance_to(bot, MONDAY_10_UTC + timedelta(days=3) - timedelta(minutes=1)) == 0
    assert advance_to(bot, MONDAY_10_UTC + timedelta(days=3)) == 1  # Thursday 10:00

    [reminder] = nudges_in_thread(fake_slack)
    text = block_text(reminder)
    assert "Phase 1 of 7" in text and "no tick" in text
    assert all(item.title in text for item in TEMPLATE.phase(1).items)

    # Two days later is Saturday: the repeat waits for Monday 09:00.
    assert advance_to(bot, datetime(2026, 11, 28, 10, 0, tzinfo=UTC)) == 0
    assert advance_to(bot, datetime(2026, 11, 30, 8, 59, tzinfo=UTC)) == 0
    assert advance_to(bot, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == 1
    assert len(nudges_in_thread(fake_slack)) == 2


def test_a_tick_resets_the_stall_count(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start_project(bot)
    bot.clock.advance(timedelta(days=2))  # Wednesday 10:00
    [phase_one] = phase_messages(fake_slack, PROJECT_CHANNEL)
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], TEMPLATE.phase(1).items[0].key, selected=True)
    bot.settle()
    assert advance_to(bot, MONDAY_10_UTC + timedelta(days=3)) == 0  # Thursday: only a day since the tick
    assert advance_to(bot, datetime(2026, 11, 28, 10, 0, tzinfo=UTC)) == 0  # Saturday: three days, weekend
    assert advance_to(bot, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == 1  # Monday 09:00


def test_a_phase_ticked_after_the_reminder_fell_due_skips_it(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start_project(bot)
    bot.clock.advance(timedelta(days=3, hours=1))  # due, but no pass has run yet (a busy replica)
    bot.bot.nudges._materialize_batch()
    [phase_one] = phase_messages(fake_slack, PROJECT_CHANNEL)
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], TEMPLATE.phase(1).items[0].key, selected=True)
    bot.settle()
    assert bot.run_nudges() == 0
    [skipped] = all_nudges(bot)
    assert skipped.status == NudgeStatus.SKIPPED and "superseded" in (skipped.skip_reason or "")


# --- time zones and daylight saving ----------------------------------------------------------


@pytest.fixture
def berlin_clock() -> FakeClock:
    return FakeClock(datetime(2026, 10, 12, 6, 0, tzinfo=UTC))  # Monday 08:00 in Berlin (CEST)


def test_drift_checks_keep_local_time_across_daylight_saving(
    fake_slack: FakeSlack, sqlite_url: str, berlin_clock: FakeClock
) -> None:
    fake_slack.add_user("UALICE", "alice", tz="Europe/Berlin")
    bot = RunningBot(fake_slack, sqlite_url, berlin_clock)
    try:
        ship(bot, fake_slack)  # Monday 12 October, 08:00 Berlin: before working hours
        bot.slack.command("schedule drift at 10:00")
        bot.settle()
        bot.slack.command("schedule stall off")
        bot.settle()
        # Step through three weeks an hour at a time, as APScheduler would poll.
        sent_at = []
        end = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
        while bot.clock() < end:
            bot.clock.advance(timedelta(hours=1))
            if bot.run_nudges():
                sent_at.append(bot.clock())
        # Berlin leaves summer time on 25 October: 10:00 is 08:00 UTC before and 09:00 after.
        assert sent_at == [
            datetime(2026, 10, 19, 8, 0, tzinfo=UTC),
            datetime(2026, 10, 26, 9, 0, tzinfo=UTC),
            datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        ]
        assert [n.kind for n in all_nudges(bot)] == ["drift"] * 3
    finally:
        bot.stop()


def test_starter_time_zone_and_working_hours_in_schedule_listing(
    fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock
) -> None:
    fake_slack.add_user("UALICE", "alice", tz="America/New_York")
    bot = RunningBot(fake_slack, sqlite_url, clock)
    try:
        start_project(bot)  # Monday 10:00 UTC is 05:00 in New York
        bot.slack.command("schedule")
        bot.settle()
        listing = replies_to_user(fake_slack)[-1]
        assert "America/New_York" in listing
        assert "Thu 26 Nov 2026, 09:00 EST" in listing  # three days on is 05:00: waits for 09:00
        assert advance_to(bot, datetime(2026, 11, 26, 13, 59, tzinfo=UTC)) == 0
        assert advance_to(bot, datetime(2026, 11, 26, 14, 0, tzinfo=UTC)) == 1
    finally:
        bot.stop()


# --- drift and re-distillation ---------------------------------------------------------------


def test_drift_every_seven_days_and_redistill_review_at_ninety(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    ship(bot, fake_slack)
    shipped = bot.clock()
    assert advance_to(bot, shipped + timedelta(days=7) - timedelta(minutes=1)) == 0
    assert advance_to(bot, shipped + timedelta(days=7)) == 1
    assert advance_to(bot, shipped + timedelta(days=14)) == 1
    assert [n.kind for n in all_nudges(bot)] == ["drift", "drift"]
    drift_check = nudges_in_thread(fake_slack)[-1]
    assert [e["text"]["text"] for e in drift_check["blocks"][-1]["elements"]] == [
        "No drift",
        "Drift found",
        "Snooze 1 day",
    ]

    review_due = datetime(2027, 2, 22, 9, 0, tzinfo=UTC)  # 90 days on is Sunday 21 Feb: Monday 09:00
    assert schedule_of(bot, "redistill").next_due_at == review_due
    bot.slack.command("schedule drift off")
    bot.settle()
    assert advance_to(bot, review_due) == 1
    review = nudges_in_thread(fake_slack)[-1]
    assert "Re-distillation review" in block_text(review)


def test_no_drift_and_snooze_move_the_next_check(bot: RunningBot, fake_slack: FakeSlack) -> None:
    ship(bot, fake_slack)
    shipped = bot.clock()
    advance_to(bot, shipped + timedelta(days=7))
    check = nudges_in_thread(fake_slack)[-1]

    bot.clock.advance(timedelta(hours=2))
    press_nudge(bot, PROJECT_CHANNEL, check, rules.Answer.SNOOZE_DRIFT, "UBOB")
    shown = fake_slack.message(PROJECT_CHANNEL, check["ts"])
    assert "Snooze 1 day" in block_text(shown) and "<@UBOB>" in block_text(shown)
    assert not any(block["type"] == "actions" for block in shown["blocks"])
    assert schedule_of(bot, "drift").next_due_at == bot.clock() + timedelta(days=1)

    assert advance_to(bot, bot.clock() + timedelta(days=1)) == 1
    second = nudges_in_thread(fake_slack)[-1]
    press_nudge(bot, PROJECT_CHANNEL, second, rules.Answer.NO_DRIFT, "UCAROL")
    assert schedule_of(bot, "drift").next_due_at == bot.clock() + timedelta(days=7)
    # A second answer changes nothing.
    press_nudge(bot, PROJECT_CHANNEL, second, rules.Answer.DRIFT_FOUND, "UBOB")
    assert "already answered" in replies_to_user(fake_slack)[-1]
    with Session(bot.engine) as session:
        answers = [(n.answer, n.answered_by) for n in queries.list_nudges(session)]
    assert answers == [("snooze_drift", "UBOB"), ("no_drift", "UCAROL")]


def test_drift_found_offers_redistillation_and_a_new_cycle_starts(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    ship(bot, fake_slack)
    advance_to(bot, bot.clock() + timedelta(days=7))
    press_nudge(bot, PROJECT_CHANNEL, nudges_in_thread(fake_slack)[-1], rules.Answer.DRIFT_FOUND, "UBOB")

    offer = nudges_in_thread(fake_slack)[-1]
    assert "found drift" in block_text(offer) and "<@UBOB>" in block_text(offer)
    old_parent = parent_of(fake_slack, PROJECT_CHANNEL)
    press_nudge(bot, PROJECT_CHANNEL, offer, rules.Answer.START_REDISTILL, "UALICE")  # an owner

    parents = [m for m in fake_slack.messages(PROJECT_CHANNEL) if m.get("thread_ts") in (None, m["ts"])]
    assert len(parents) == 2
    new_parent = fake_slack.message(PROJECT_CHANNEL, parents[1]["ts"])
    assert "Cycle 2" in block_text(new_parent) and "Phase 3 of 7" in block_text(new_parent)
    assert "closed" in block_text(fake_slack.message(PROJECT_CHANNEL, old_parent["ts"]))
    new_thread = fake_slack.messages(PROJECT_CHANNEL, thread_ts=parents[1]["ts"])
    phase_three = fake_slack.message(PROJECT_CHANNEL, new_thread[-1]["ts"])
    assert TEMPLATE.phase(3).title in block_text(phase_three)
    assert not any(block.get("accessory", {}).get("initial_options") for block in phase_three["blocks"])

    with Session(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
        assert project is not None and project.cycle == 2 and project.current_phase == 3
        carried = {tick.item_key for tick in queries.list_ticks(session, project.id or 0)}
    assert carried == {item.key for number in (1, 2) for item in TEMPLATE.phase(number).items}

    # The old cycle's maintenance stops; the new one has only its stall reminder until it ships.
    sent_before = len(nudge_posts(fake_slack))
    advance_to(bot, bot.clock() + timedelta(days=30))
    kinds = [call.args["text"] for call in nudge_posts(fake_slack)[sent_before:]]
    assert kinds and all("no tick" in text for text in kinds)

    # The old cycle's checklist is read-only now, even to a client still showing its checkboxes.
    old_phase_one = fake_slack.calls_to("chat.postMessage")[1].args
    old_thread = fake_slack.messages(PROJECT_CHANNEL, thread_ts=old_parent["ts"])
    stale = {**old_phase_one, "ts": old_thread[1]["ts"], "thread_ts": old_parent["ts"]}
    bot.slack.click(PROJECT_CHANNEL, stale["ts"], "narrow-task", selected=False, message=stale)
    bot.settle()
    assert "earlier cycle" in replies_to_user(fake_slack)[-1]


def test_not_yet_snoozes_the_review_thirty_days(bot: RunningBot, fake_slack: FakeSlack) -> None:
    ship(bot, fake_slack)
    bot.slack.command("schedule drift off")
    bot.settle()
    review_due = datetime(2027, 2, 22, 9, 0, tzinfo=UTC)
    assert advance_to(bot, review_due) == 1
    press_nudge(bot, PROJECT_CHANNEL, nudges_in_thread(fake_slack)[-1], rules.Answer.NOT_YET, "UBOB")
    assert schedule_of(bot, "redistill").next_due_at == review_due + timedelta(days=30)
    assert advance_to(bot, review_due + timedelta(days=29)) == 0
    assert advance_to(bot, review_due + timedelta(days=30)) == 1


# --- schedule commands -------------------------------------------------------------------------


def test_schedule_commands_change_what_they_say_and_refuse_bad_values(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start_project(bot)
    for good in ("drift every 14d", "redistill every 180d", "stall every 1d", "stall at 10:30"):
        bot.slack.command(f"schedule {good}")
        bot.settle()
    listing = replies_to_user(fake_slack)[-1]
    assert "every 14d" in listing and "every 180d" in listing and "then every 1d, at 10:30" in listing
    assert (schedule_of(bot, "drift").every_days, schedule_of(bot, "redistill").every_days) == (14, 180)
    assert schedule_of(bot, "stall").next_due_at == datetime(2026, 11, 26, 10, 30, tzinfo=UTC)

    before = [
        (s.kind, s.every_days, s.at_time, s.enabled)
        for s in map(lambda k: schedule_of(bot, k), rules.SCHEDULED_KINDS)
    ]
    for bad, complaint in [
        ("drift every 0d", "not an interval"),
        ("drift every fortnight", "not an interval"),
        ("drift at 07:00", "not a time in working hours"),
        ("drift at 25:99", "not a time in working hours"),
        ("weather every 1d", "/distill schedule"),
        ("drift sometimes", "/distill schedule"),
    ]:
        bot.slack.command(f"schedule {bad}")
        bot.settle()
        assert complaint in replies_to_user(fake_slack)[-1], bad
    after = [
        (s.kind, s.every_days, s.at_time, s.enabled)
        for s in map(lambda k: schedule_of(bot, k), rules.SCHEDULED_KINDS)
    ]
    assert after == before

    bot.slack.command("schedule stall off")
    bot.settle()
    assert "off" in replies_to_user(fake_slack)[-1]
    assert advance_to(bot, bot.clock() + timedelta(days=10)) == 0


def test_timezone_command_and_status_show_the_next_nudge(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start_project(bot)
    bot.slack.command("timezone Mars/Olympus")
    bot.settle()
    assert "not a time zone" in replies_to_user(fake_slack)[-1]
    bot.slack.command("timezone Asia/Tokyo")
    bot.settle()
    assert "Asia/Tokyo" in replies_to_user(fake_slack)[-1]
    bot.slack.command("status")
    bot.settle()
    # Monday 10:00 UTC + 3 days is Thursday 19:00 in Tokyo: after hours, so Friday 09:00 JST.
    assert "Next nudge: stalled-phase reminder, Fri 27 Nov 2026, 09:00 JST" in replies_to_user(fake_slack)[-1]


# --- restarts, Slack failures, archived channels -------------------------------------------


def test_nudges_missed_while_down_go_out_once(
    fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock
) -> None:
    first = RunningBot(fake_slack, sqlite_url, clock)
    ship(first, fake_slack)
    first.stop()  # down for three weeks and a bit: three drift checks fell due meanwhile
    clock.advance(timedelta(days=22))

    second = RunningBot(fake_slack, sqlite_url, clock)
    try:
        assert second.run_nudges() == 1
        assert second.run_nudges() == 0
        statuses = [(n.kind, n.status) for n in all_nudges(second)]
        assert statuses == [("drift", "skipped"), ("drift", "skipped"), ("drift", "sent")]
        assert len(nudges_in_thread(fake_slack)) == 1
    finally:
        second.stop()


def test_slack_errors_delay_a_nudge_without_losing_or_doubling_it(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start_project(bot)
    bot.clock.advance(timedelta(days=3))
    # A 5xx: Slack may have stored the post, so it is not sent again blind (no client retry).
    fake_slack.fail("chat.postMessage", status=503, retry_after=None)
    assert bot.run_nudges() == 0
    [nudge] = all_nudges(bot)
    assert (nudge.status, nudge.attempts) == (NudgeStatus.PENDING, 1) and nudge.last_error

    fake_slack.fail("chat.postMessage", status=429, retry_after=0, times=4)  # more than the client retries
    bot.clock.advance(timedelta(minutes=1))
    assert bot.run_nudges() == 0  # read back (not there), posted, still refused: backs off again
    assert bot.run_nudges() == 0  # not yet time to retry
    bot.clock.advance(timedelta(minutes=2))
    assert bot.run_nudges() == 1
    assert bot.run_nudges() == 0
    assert len(nudges_in_thread(fake_slack)) == 1


def test_an_archived_channel_pauses_nudges_with_the_reason(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start_project(bot)
    fake_slack.set_channel(PROJECT_CHANNEL, is_archived=True)
    assert advance_to(bot, bot.clock() + timedelta(days=3)) == 0
    bot.slack.command("status")
    bot.settle()
    assert "paused" in replies_to_user(fake_slack)[-1] and "archived" in replies_to_user(fake_slack)[-1]
    calls = len(fake_slack.calls)
    assert advance_to(bot, bot.clock() + timedelta(days=4)) == 0
    assert len(fake_slack.calls) == calls  # no retrying forever

    fake_slack.set_channel(PROJECT_CHANNEL, is_archived=False)
    bot.slack.command("schedule resume")
    bot.settle()
    assert bot.run_nudges() == 1
    assert len(nudges_in_thread(fake_slack)) == 1


def test_a_nudge_whose_sender_died_is_not_posted_twice(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """The hard case in one process: Slack took the post, the database never heard."""
    start_project(bot)
    bot.clock.advance(timedelta(days=3))
    bot.bot.nudges._materialize_batch()
    [(nudge_id, token)] = bot.bot.nudges._claim_batch()
    with Session(bot.engine) as session:  # the dead worker's post, exactly as it would have sent it
        project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
        thread_ts = queries.get_thread_ts(session, project.id or 0)  # type: ignore[union-attr]
    bot.bot.nudges.slack.chat_postMessage(
        channel=PROJECT_CHANNEL,
        thread_ts=thread_ts,
        text="stall",
        metadata={"event_type": "distill_nudge", "event_payload": {"nudge_id": nudge_id}},
    )
    assert bot.run_nudges() == 0  # leased by the dead worker
    bot.clock.advance(timedelta(minutes=6))  # the lease runs out
    assert bot.run_nudges() == 1  # found in Slack, recorded, not posted again
    assert len(nudges_in_thread(fake_slack)) == 1
    assert [n.status for n in all_nudges(bot)] == [NudgeStatus.SENT]
    assert token


def nudge_rows(bot: RunningBot) -> list[tuple[str, int, str | None]]:
    return [(n.status, n.attempts, n.ts) for n in all_nudges(bot)]


def test_a_slack_timeout_is_retried_without_doubling(
    fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock
) -> None:
    """Slack stores the timed-out nudge only after the retry read the thread back, found
    nothing and posted again: the bot deletes its own newer copy, so the thread shows one."""
    bot = RunningBot(fake_slack, sqlite_url, clock, slack_timeout_seconds=1.0)
    try:
        start_project(bot)
        bot.clock.advance(timedelta(days=3))
        late = fake_slack.hold("chat.postMessage")  # Slack is slow to take the nudge in
        assert bot.run_nudges() == 0  # the client gives up; Slack still has the post
        fake_slack.hold("chat.postMessage").set()  # later posts go straight through

        bot.clock.advance(SETTLE)
        assert bot.run_nudges() == 0  # Slack may still store it: not read back, not sent yet
        bot.clock.advance(timedelta(minutes=1) - SETTLE)
        assert bot.run_nudges() == 1  # read back: not there yet, so posted again
        late.set()  # ... and now Slack stores the first one too
        assert fake_slack.wait_for_call("chat.postMessage", count=4)  # parent, phase 1, two nudges
        first, second = nudges_in_thread(fake_slack)
        assert fake_slack.calls_to("chat.delete") == []

        bot.clock.advance(SETTLE)  # once Slack has settled, the thread is counted again
        assert bot.run_nudges() == 0
        [kept] = nudges_in_thread(fake_slack)
        assert kept["ts"] == first["ts"]  # the older copy stays, the bot's newer one is deleted
        assert [call.args["ts"] for call in fake_slack.calls_to("chat.delete")] == [second["ts"]]
        assert nudge_rows(bot) == [(NudgeStatus.SENT, 2, first["ts"])]
        assert bot.run_nudges() == 0 and len(fake_slack.calls_to("chat.delete")) == 1  # counted once
    finally:
        bot.stop()


def test_a_nudge_slack_stored_before_the_read_back_is_adopted(
    fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock
) -> None:
    bot = RunningBot(fake_slack, sqlite_url, clock, slack_timeout_seconds=1.0)
    try:
        start_project(bot)
        bot.clock.advance(timedelta(days=3))
        answers = fake_slack.hold_answers("chat.postMessage")  # stored at once, answered too late
        assert bot.run_nudges() == 0
        answers.set()
        [stored] = nudges_in_thread(fake_slack)
        bot.clock.advance(timedelta(minutes=1))
        assert bot.run_nudges() == 1  # found in the thread's metadata, not posted again
        assert len(fake_slack.calls_to("chat.postMessage")) == 3  # parent, phase 1, the one nudge
        assert nudge_rows(bot) == [(NudgeStatus.SENT, 2, stored["ts"])]
        bot.clock.advance(SETTLE)
        assert bot.run_nudges() == 0
        assert len(nudges_in_thread(fake_slack)) == 1 and fake_slack.calls_to("chat.delete") == []
    finally:
        bot.stop()


def test_a_nudge_whose_connection_dropped_is_not_sent_again_blind(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start_project(bot)
    bot.clock.advance(timedelta(days=3))
    fake_slack.fail("chat.postMessage", hang_up=True)  # Slack stores it, the answer is lost
    assert bot.run_nudges() == 0
    assert len(nudges_in_thread(fake_slack)) == 1  # slack_sdk did not send it again
    bot.clock.advance(timedelta(minutes=1))
    assert bot.run_nudges() == 1  # adopted from the thread
    assert len(nudges_in_thread(fake_slack)) == 1 and len(fake_slack.calls_to("chat.postMessage")) == 3


def test_an_answer_saved_while_slack_fails_is_said_so_and_drawn_later(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start_project(bot)
    assert advance_to(bot, MONDAY_10_UTC + timedelta(days=3)) == 1
    reminder = nudges_in_thread(fake_slack)[-1]
    fake_slack.fail("chat.update", status=503, retry_after=None, times=3)  # more than the client retries
    press_nudge(bot, PROJECT_CHANNEL, reminder, rules.Answer.SNOOZE_STALL, "UBOB")
    assert replies_to_user(fake_slack)[-1] == "Your answer is saved; Slack is slow, the thread will catch up."
    assert fake_slack.message(PROJECT_CHANNEL, reminder["ts"])["blocks"] == reminder["blocks"]  # not yet

    bot.clock.advance(SETTLE)  # the next pass of the beat draws it as stored
    assert bot.run_nudges() == 0
    drawn = fake_slack.message(PROJECT_CHANNEL, reminder["ts"])
    assert "Snooze" in block_text(drawn) and not any(b["type"] == "actions" for b in drawn["blocks"])


def test_snoozing_a_stall_reminder_pushes_the_next_one_a_day(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start_project(bot)
    assert advance_to(bot, MONDAY_10_UTC + timedelta(days=3)) == 1  # Thursday 10:00
    press_nudge(bot, PROJECT_CHANNEL, nudges_in_thread(fake_slack)[-1], rules.Answer.SNOOZE_STALL, "UBOB")
    assert schedule_of(bot, "stall").next_due_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # Friday 10:00
    assert advance_to(bot, datetime(2026, 11, 27, 9, 59, tzinfo=UTC)) == 0
    assert advance_to(bot, datetime(2026, 11, 27, 10, 0, tzinfo=UTC)) == 1
