"""Every post reaches the thread exactly once, whatever happens to Slack's answer (issue 12).

Slack has no idempotency key for posts: when its answer is late or lost, it may still store
the post. These tests make the fake Slack store a post and answer too late (`hold_answers`),
take a post in only after the client gave up (`hold`), or hang up after storing it, on every
kind of message, and drive the bot through its real endpoint with an injected clock: Slack
settling and the repair beat are the clock moving, never the test sleeping.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bot import cli
from bot.fake_slack import FakeSlack
from bot.slack_sync import CLAIM_TIMEOUT, MESSAGE_EVENT, REPAIR_BATCH, SETTLE, SLOW_START
from storage import queries
from storage.engine import session_scope
from storage.models import MessageKind
from tests.checklist_flow import (
    PASSING_EVALUATION,
    TEMPLATE,
    block_text,
    fill_form,
    parent_of,
    phase_messages,
    record_evidence_for,
    replies_of,
    stored_drawing,
    tick_phase,
)
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import TEAM, FakeClock, RunningBot, settings_for

TIMEOUT = 1.0  # seconds the bot's Slack client waits for an answer (loopback answers take ms)
SAVED_BUT_SLOW = "Your tick is saved; Slack is slow, the thread will catch up."


@pytest.fixture
def bot(fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock) -> Iterator[RunningBot]:
    running = RunningBot(fake_slack, sqlite_url, clock, slack_timeout_seconds=TIMEOUT)
    yield running
    running.stop()


def replies_to_user(fake: FakeSlack) -> list[str]:
    return [response.body.get("text", "") for response in fake.responses]


def thread_copies(fake: FakeSlack, channel: str = PROJECT_CHANNEL) -> Counter[int]:
    """How many times each of the bot's thread messages is in the thread, by its id."""
    return Counter(
        m["metadata"]["event_payload"]["message_id"]
        for m in replies_of(fake, channel)
        if (m.get("metadata") or {}).get("event_type") == MESSAGE_EVENT
    )


def labels(fake: FakeSlack, channel: str = PROJECT_CHANNEL) -> list[str]:
    """The thread, one short label per reply: a message's header, or its fallback text."""
    out = []
    for m in replies_of(fake, channel):
        header = next((b["text"]["text"] for b in m["blocks"] if b["type"] == "header"), None)
        out.append((header or m["text"])[:40])
    return out


def posted_count(fake: FakeSlack) -> int:
    """Posts sent so far, whether or not Slack has answered them."""
    return fake.arrivals("chat.postMessage")


def repair_later(bot: RunningBot, after: timedelta = SETTLE) -> int:
    """One pass of the repair beat, once `after` has passed on the injected clock."""
    bot.settle()
    bot.clock.advance(after)
    return bot.bot.workflow.slack_sync.repair()


def tick_all_but_last(
    bot: RunningBot, fake: FakeSlack, phase_number: int, channel: str = PROJECT_CHANNEL
) -> dict[str, Any]:
    """Tick every item of the phase but its last; returns the phase's message."""
    message = phase_messages(fake, channel)[phase_number - 1]
    for item in TEMPLATE.phase(phase_number).items[:-1]:
        bot.slack.click(channel, message["ts"], item.key, selected=True)
        bot.settle()
    return message


def tick_last(
    bot: RunningBot,
    fake: FakeSlack,
    message: dict[str, Any],
    phase_number: int,
    channel: str = PROJECT_CHANNEL,
) -> None:
    last = TEMPLATE.phase(phase_number).items[-1]
    assert bot.slack.click(channel, message["ts"], last.key, selected=True).status == 200
    bot.settle()


def start(bot: RunningBot) -> None:
    bot.slack.command("start Router")
    bot.settle()


def assert_caught_up(bot: RunningBot, fake: FakeSlack) -> None:
    """Once Slack has settled, the thread holds each message once and nothing is left to do."""
    repair_later(bot)  # the last adopted posts are counted once more
    assert set(thread_copies(fake).values()) == {1}, thread_copies(fake)
    calls = len(fake.calls)
    assert repair_later(bot) == 0 and len(fake.calls) == calls


# --- a late answer on each kind of thread message --------------------------------------------


def test_a_late_answer_on_the_phase_notice_and_the_next_phase(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    phase_one = tick_all_but_last(bot, fake_slack, 1)
    answers = fake_slack.hold_answers("chat.postMessage")  # Slack stores each post, answers too late
    try:
        tick_last(bot, fake_slack, phase_one, 1)
        assert replies_to_user(fake_slack)[-1] == SAVED_BUT_SLOW  # the tick did commit
        assert len(labels(fake_slack)) == 2  # Phase 1 and the notice Slack stored
        posts = posted_count(fake_slack)

        assert repair_later(bot, SETTLE - timedelta(seconds=1)) == 1
        assert posted_count(fake_slack) == posts  # Slack may still be storing it: nothing re-sent
        repair_later(bot, timedelta(seconds=1))  # settled: the notice is read back and adopted...
        assert posted_count(fake_slack) == posts + 1  # ... then Phase 2 posted: late again
        repair_later(bot)  # Phase 2 is read back and adopted too
    finally:
        answers.set()
    assert labels(fake_slack)[0].startswith("Phase 1") and "complete" in labels(fake_slack)[1]
    assert labels(fake_slack)[2].startswith("Phase 2") and len(labels(fake_slack)) == 3
    assert posted_count(fake_slack) == posts + 1  # each message sent once
    assert "Phase 2 is open" in block_text(replies_of(fake_slack, PROJECT_CHANNEL)[1])
    assert_caught_up(bot, fake_slack)


def test_a_late_answer_on_the_bars_message(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    tick_phase(bot, fake_slack, PROJECT_CHANNEL, 1)
    record_evidence_for(bot, fake_slack, PROJECT_CHANNEL, 2)  # the success bars, by their form
    tick_all_but_last(bot, fake_slack, 2)
    answers = fake_slack.hold_answers("chat.postMessage")
    try:
        tick_last(bot, fake_slack, phase_messages(fake_slack, PROJECT_CHANNEL)[1], 2)
        assert replies_to_user(fake_slack)[-1] == SAVED_BUT_SLOW
        for _ in range(3):  # the notice, the committed bars, Phase 3: each one late
            repair_later(bot)
    finally:
        answers.set()
    thread = labels(fake_slack)
    assert thread[3:] == [
        "Phase 2 complete. Phase 3 is open: *Data",
        "Committed success bars for Router",
        "Phase 3 of 7: Data Preparation",
    ], thread
    assert_caught_up(bot, fake_slack)


def test_a_late_answer_on_the_evaluation_table(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    for phase_number in range(1, 6):
        tick_phase(bot, fake_slack, PROJECT_CHANNEL, phase_number)
    phase_six = fake_slack.message(PROJECT_CHANNEL, phase_messages(fake_slack, PROJECT_CHANNEL)[5]["ts"])
    answers = fake_slack.hold_answers("chat.postMessage")
    try:
        assert (
            fill_form(
                bot, fake_slack, PROJECT_CHANNEL, phase_six, "evaluation:open", PASSING_EVALUATION
            ).status
            == 200
        )
        posts = posted_count(fake_slack)
        repair_later(bot, SETTLE - timedelta(seconds=1))
        assert posted_count(fake_slack) == posts  # not sent again while Slack may be storing it
        repair_later(bot, timedelta(seconds=1))
    finally:
        answers.set()
    tables = [
        m for m in replies_of(fake_slack, PROJECT_CHANNEL) if m["text"].startswith("Evaluation recorded")
    ]
    assert len(tables) == 1 and posted_count(fake_slack) == posts
    assert_caught_up(bot, fake_slack)


def test_a_start_whose_parent_got_no_answer_says_so_and_is_taken_up_later(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    answers = fake_slack.hold_answers("chat.postMessage")  # Slack stores the parent, answers late
    bot.slack.command("start Router")
    bot.settle()
    answers.set()
    assert replies_to_user(fake_slack)[-1] == SLOW_START  # not "nothing was changed"
    [parent] = fake_slack.messages(PROJECT_CHANNEL)

    bot.clock.advance(CLAIM_TIMEOUT + timedelta(minutes=1))  # the next start takes the half-made one up
    start(bot)
    assert parent_of(fake_slack, PROJECT_CHANNEL)["ts"] == parent["ts"]  # adopted, not posted again
    assert labels(fake_slack)[0].startswith("Phase 1") and len(labels(fake_slack)) == 1
    assert "already has a distillation project" in replies_to_user(fake_slack)[-1]


@pytest.mark.parametrize("command", ["reopen 1 the labels were wrong", "rollout shadow"])
def test_a_lost_answer_on_a_moves_notice(bot: RunningBot, fake_slack: FakeSlack, command: str) -> None:
    start(bot)
    phases = 1 if command.startswith("reopen") else len(TEMPLATE.phases) - 1
    for phase_number in range(1, phases + 1):
        tick_phase(bot, fake_slack, PROJECT_CHANNEL, phase_number)
    fake_slack.fail("chat.postMessage", hang_up=True)  # Slack stores the notice; the answer is lost
    bot.slack.command(command)
    bot.settle()
    posts = posted_count(fake_slack)
    repair_later(bot, SETTLE - timedelta(seconds=1))
    assert posted_count(fake_slack) == posts  # Slack may still be storing it: nothing re-sent
    repair_later(bot)  # settled: read back and adopted
    notices = [m for m in replies_of(fake_slack, PROJECT_CHANNEL) if m["text"].startswith(NOTICE_STARTS)]
    assert len(notices) == 1 and posted_count(fake_slack) == posts, labels(fake_slack)
    assert_caught_up(bot, fake_slack)


NOTICE_STARTS = (":leftwards_arrow_with_hook:", ":traffic_light:")


def test_a_notice_slack_refuses_at_first_is_posted_by_the_repair_pass(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    tick_phase(bot, fake_slack, PROJECT_CHANNEL, 1)
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=4)  # past the client's retries
    bot.slack.command("reopen 1 the labels were wrong")
    bot.settle()
    assert not any(m["text"].startswith(NOTICE_STARTS) for m in replies_of(fake_slack, PROJECT_CHANNEL))
    repair_later(bot, timedelta(seconds=30))  # the next beat: Slack stored nothing, so it posts at once
    notices = [m for m in replies_of(fake_slack, PROJECT_CHANNEL) if m["text"].startswith(NOTICE_STARTS)]
    assert len(notices) == 1
    assert_caught_up(bot, fake_slack)


# --- Slack stores the late copy after the read-back ------------------------------------------


def test_a_copy_slack_stores_after_the_read_back_is_deleted(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    phase_one = tick_all_but_last(bot, fake_slack, 1)
    late = fake_slack.hold("chat.postMessage")  # Slack takes the notice in only later
    tick_last(bot, fake_slack, phase_one, 1)
    assert replies_to_user(fake_slack)[-1] == SAVED_BUT_SLOW
    fake_slack.hold("chat.postMessage").set()  # later posts go straight through

    repair_later(bot)  # read back: no notice yet, so it is posted again, then Phase 2
    assert len(labels(fake_slack)) == 3
    late.set()  # now Slack stores the first notice too, below Phase 2
    assert fake_slack.wait_for_call("chat.postMessage", count=posted_count(fake_slack))  # all answered
    assert len(labels(fake_slack)) == 4 and 2 in thread_copies(fake_slack).values()

    repair_later(bot)  # once Slack has settled, the copies are counted again
    thread = labels(fake_slack)
    assert len(thread) == 3 and "complete" in thread[1] and thread[2].startswith("Phase 2"), thread
    [deleted] = fake_slack.calls_to("chat.delete")
    assert deleted.ok and deleted.args["ts"] not in {m["ts"] for m in replies_of(fake_slack, PROJECT_CHANNEL)}
    assert_caught_up(bot, fake_slack)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"hang_up": True}, id="connection-dropped"),
        pytest.param({"status": 500, "retry_after": None, "carry_out": True}, id="server-error"),
    ],
)
def test_a_post_whose_answer_was_lost_is_not_sent_again_blind(
    bot: RunningBot, fake_slack: FakeSlack, fault: dict[str, Any]
) -> None:
    start(bot)
    phase_one = tick_all_but_last(bot, fake_slack, 1)
    fake_slack.fail("chat.postMessage", **fault)  # Slack stores the notice, then the answer is lost
    tick_last(bot, fake_slack, phase_one, 1)
    assert replies_to_user(fake_slack)[-1] == SAVED_BUT_SLOW
    assert len(labels(fake_slack)) == 2  # slack_sdk did not send it again
    repair_later(bot)
    assert len(labels(fake_slack)) == 3 and set(thread_copies(fake_slack).values()) == {1}
    assert_caught_up(bot, fake_slack)


def test_the_evaluation_table_is_claimed_so_two_workers_post_it_once(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    """Issue 7, finding 8: two workers bringing the same thread up to date at once."""
    bot = bot_on_each_db  # Slack's usual timeout: nothing here times out
    start(bot)
    for phase_number in range(1, 6):
        tick_phase(bot, fake_slack, PROJECT_CHANNEL, phase_number)
    phase_six = fake_slack.message(PROJECT_CHANNEL, phase_messages(fake_slack, PROJECT_CHANNEL)[5]["ts"])
    posts = posted_count(fake_slack)
    held = fake_slack.hold("chat.postMessage")
    submitting = threading.Thread(
        target=fill_form,
        args=(bot, fake_slack, PROJECT_CHANNEL, phase_six, "evaluation:open", PASSING_EVALUATION),
    )
    submitting.start()  # its worker posts the table, and Slack holds that post
    assert fake_slack.wait_for_arrival("chat.postMessage", count=posts + 1)
    with session_scope(bot.engine) as session:
        project_id = queries.list_messages(session, 1)[0].project_id
    second = threading.Thread(target=bot.bot.governance.after_submission, args=(project_id,))
    second.start()  # another worker brings the same thread up to date meanwhile
    second.join(timeout=5)  # it sees the claim and returns; without one it waits on its own post
    finished_while_held = not second.is_alive()
    held.set()
    second.join()
    submitting.join()
    assert fake_slack.wait_for_call("chat.postMessage", count=posted_count(fake_slack))  # all stored
    tables = [
        m for m in replies_of(fake_slack, PROJECT_CHANNEL) if m["text"].startswith("Evaluation recorded")
    ]
    assert len(tables) == 1 and finished_while_held
    assert posted_count(fake_slack) == posts + 1


# --- the outside scenario of issue 12, and the repair beat ----------------------------------


def test_slack_taking_longer_than_the_timeout_then_the_thread_catches_up_by_itself(
    fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock
) -> None:
    """SLACK_TIMEOUT_SECONDS=1, and a Slack that takes 2.5 s to store and answer a post."""
    bot = RunningBot(fake_slack, sqlite_url, clock, slack_timeout_seconds=1)
    try:
        start(bot)
        phase_one = tick_all_but_last(bot, fake_slack, 1)
        fake_slack.delay("chat.postMessage", 2.5)
        posts_before = posted_count(fake_slack)
        tick_last(bot, fake_slack, phase_one, 1)
        fake_slack.delay("chat.postMessage", 0)
        assert replies_to_user(fake_slack)[-1] == SAVED_BUT_SLOW  # not "nothing was changed"
        assert fake_slack.wait_for_call("chat.postMessage", count=posts_before + 1)  # Slack got to it, late

        # Nobody clicks: the repair beat's next pass, once Slack has settled, catches the thread up.
        assert timedelta(minutes=1) > SETTLE
        assert repair_later(bot) == 1
        thread = labels(fake_slack)
        assert len(thread) == 3 and "complete" in thread[1] and thread[2].startswith("Phase 2"), thread
        assert_caught_up(bot, fake_slack)
    finally:
        bot.stop()


def test_slack_failing_for_a_while_then_every_thread_catches_up_within_a_minute(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """A Slack outage: every Web API call answers 503 for two minutes, and some posts are stored
    all the same. Ticks keep coming in; nobody clicks once Slack is back. Within a minute of its
    return, on the repair beat alone, every thread shows what is stored, each message once."""
    beat = timedelta(seconds=30)  # NUDGE_POLL_SECONDS' default
    channels = (PROJECT_CHANNEL, OTHER_CHANNEL)
    last_messages = {}
    for channel in channels:
        bot.slack.command("start Router", channel=channel)
        bot.settle()
        last_messages[channel] = tick_all_but_last(bot, fake_slack, 1, channel)

    fake_slack.outage(status=503, store_every=2)
    for channel in channels:
        tick_last(bot, fake_slack, last_messages[channel], 1, channel)
        assert replies_to_user(fake_slack)[-1] == SAVED_BUT_SLOW
    for _ in range(4):  # each beat of the outage stops at its first project: Slack is down
        assert repair_later(bot, beat) == 1
    fake_slack.end_outage()

    for _ in range(2):  # one minute of beats, and no clicks
        repair_later(bot, beat)
    bot.settle()
    for channel in channels:
        thread = labels(fake_slack, channel)
        assert len(thread) == 3 and "complete" in thread[1] and thread[2].startswith("Phase 2"), thread
        assert set(thread_copies(fake_slack, channel).values()) == {1}, thread_copies(fake_slack, channel)
        for ts, blocks in stored_drawing(bot, channel).items():
            assert fake_slack.message(channel, ts)["blocks"] == blocks
    with session_scope(bot.engine) as session:
        assert queries.unsettled_project_ids(session, after=0, limit=10) == []


def test_the_scheduler_beat_runs_the_repair_pass(
    bot: RunningBot, fake_slack: FakeSlack, sqlite_url: str
) -> None:
    start(bot)
    phase_one = tick_all_but_last(bot, fake_slack, 1)
    answers = fake_slack.hold_answers("chat.postMessage")
    tick_last(bot, fake_slack, phase_one, 1)  # the notice's answer comes too late: Phase 2 waits
    answers.set()
    bot.clock.advance(SETTLE)
    posts = posted_count(fake_slack)
    # The beat as `distill-bot run` starts it; its first pass runs at once.
    scheduler = cli.start_background_work(
        bot.bot, settings_for(fake_slack, sqlite_url, nudge_poll_seconds=3600)
    )
    try:
        assert fake_slack.wait_for_call("chat.postMessage", count=posts + 1)  # Phase 2, by the beat
    finally:
        scheduler.shutdown(wait=True)
    assert labels(fake_slack)[2].startswith("Phase 2") and len(labels(fake_slack)) == 3


def test_one_repair_pass_catches_up_more_projects_than_a_batch(
    fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock
) -> None:
    """Clicks past a full background pool are stored and left to the repair pass: a burst over
    many projects must not take one beat per batch to show."""
    # Slack's usual timeout, not this module's 1 s: the 26 starts below post at once, and a post
    # timing out on a busy machine would leave its project to a later read-back, not this pass.
    bot = RunningBot(fake_slack, sqlite_url, clock)
    try:
        repair_in_one_pass(bot, fake_slack)
    finally:
        bot.stop()


def repair_in_one_pass(bot: RunningBot, fake_slack: FakeSlack) -> None:
    channels = [f"C0MANY{n:03d}" for n in range(REPAIR_BATCH + 5)]
    for channel in channels:
        fake_slack.add_channel(channel, channel.lower())
        bot.slack.command("start Router", channel=channel)
    bot.settle()
    with session_scope(bot.engine) as session:  # each project moved on; Slack was not told
        for channel in channels:
            project = queries.get_open_project(session, TEAM, channel)
            assert project is not None
            project.version += 1
            queries.mark_messages_stale(session, project, kinds_and_phases=[(MessageKind.PARENT, 0)])
    bot.bot.workflow.slack_sync._repair_after = 3  # the last pass stopped part-way
    updates = len(fake_slack.calls_to("chat.update"))
    # However slow the machine, the pass is not cut short here: only its batching is at issue.
    assert bot.bot.workflow.slack_sync.repair(budget_seconds=600) == len(channels)
    assert len(fake_slack.calls_to("chat.update")) - updates == len(channels)  # each once
    with session_scope(bot.engine) as session:
        assert queries.unsettled_project_ids(session, after=0, limit=10) == []


def test_the_repair_pass_is_one_indexed_query_when_nothing_is_stale(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    bot = bot_on_each_db
    start(bot)
    tick_phase(bot, fake_slack, PROJECT_CHANNEL, 1)
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append((statement, parameters))

    event.listen(bot.engine, "before_cursor_execute", record)
    try:
        calls = len(fake_slack.calls)
        assert bot.bot.workflow.slack_sync.repair() == 0
    finally:
        event.remove(bot.engine, "before_cursor_execute", record)
    assert len(statements) == 1 and len(fake_slack.calls) == calls
    if bot.engine.dialect.name == "sqlite":
        [(statement, parameters)] = statements
        with bot.engine.connect() as connection:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        assert "ix_posted_message_unsettled" in " ".join(str(row) for row in plan), plan


# --- a claim outrun, an ambiguous error, two replicas, drawings landing out of order ---------------


@pytest.fixture
def patient_bot(fake_slack: FakeSlack, database_url: str, clock: FakeClock) -> Iterator[RunningBot]:
    """A bot whose client waits a minute for Slack (as when sleeping through 429 retries)."""
    running = RunningBot(fake_slack, database_url, clock, slack_timeout_seconds=60)
    yield running
    running.stop()


def test_a_post_that_outlives_its_claim_leaves_one_copy(
    patient_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """Worker A's notice is still on its way when its claim runs out; the repair pass takes the
    message over and posts it; then A's post lands. A's late record overwrote the pass's and
    cleared its copy count: the notice stayed in the thread twice."""
    bot = patient_bot
    start(bot)
    phase_one = tick_all_but_last(bot, fake_slack, 1)
    posts = posted_count(fake_slack)
    slow = fake_slack.hold("chat.postMessage")
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], TEMPLATE.phase(1).items[-1].key, selected=True)
    assert fake_slack.wait_for_arrival("chat.postMessage", count=posts + 1)
    fake_slack.hold("chat.postMessage").set()  # later posts go straight through

    bot.clock.advance(CLAIM_TIMEOUT + timedelta(seconds=1))
    bot.bot.workflow.slack_sync.repair()  # reads back (nothing yet), posts the notice and Phase 2
    slow.set()  # A's post lands now
    bot.settle()
    for _ in range(3):
        repair_later(bot, SETTLE + timedelta(seconds=1))
    assert set(thread_copies(fake_slack).values()) == {1}, (thread_copies(fake_slack), labels(fake_slack))


@pytest.mark.parametrize("error", ["internal_error", "fatal_error"])
def test_a_post_answered_with_an_error_that_may_have_stored_it_is_read_back_first(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack, error: str
) -> None:
    """Slack answers these with HTTP 200 and says some of the operation may have succeeded."""
    bot = bot_on_each_db
    start(bot)
    phase_one = tick_all_but_last(bot, fake_slack, 1)
    fake_slack.fail("chat.postMessage", error=error, carry_out=True)  # stored, answered as failed
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], TEMPLATE.phase(1).items[-1].key, selected=True)
    bot.settle()
    for _ in range(3):
        repair_later(bot, SETTLE + timedelta(seconds=1))
    assert set(thread_copies(fake_slack).values()) == {1}, (thread_copies(fake_slack), labels(fake_slack))
    assert len(phase_messages(fake_slack, PROJECT_CHANNEL)) == 2


def test_a_nudge_whose_lease_ran_out_while_it_was_posted_is_in_the_thread_once(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    """Replica A's lease runs out while its post waits; replica B takes the nudge over, reads
    back (nothing yet), posts it and counts one copy; then A's post lands."""
    bot = bot_on_each_db
    start(bot)  # the stall reminder falls due three days later
    bot.clock.advance(timedelta(days=3))

    def nudges_posted() -> list[dict[str, Any]]:
        return [
            m
            for m in fake_slack.messages(PROJECT_CHANNEL)
            if (m.get("metadata") or {}).get("event_type") == "distill_nudge"
        ]

    posts = posted_count(fake_slack)
    slow = fake_slack.hold("chat.postMessage")
    replica_a = threading.Thread(target=bot.bot.nudges.run_due, daemon=True)
    replica_a.start()
    assert fake_slack.wait_for_arrival("chat.postMessage", count=posts + 1)
    fake_slack.hold("chat.postMessage").set()  # B's posts go straight through
    bot.clock.advance(bot.bot.nudges.lease + timedelta(seconds=1))
    assert bot.bot.nudges.run_due() == 1  # replica B
    bot.clock.advance(SETTLE + timedelta(seconds=1))
    bot.bot.nudges.run_due()  # B counts the copies: one, so far
    slow.set()  # A's post lands
    replica_a.join(timeout=10)
    for _ in range(3):
        bot.clock.advance(timedelta(minutes=1))
        bot.run_nudges()
    assert len(nudges_posted()) == 1, [m["ts"] for m in nudges_posted()]


@pytest.mark.parametrize("takeover", ["the claim ran out", "a replica restarted"])
def test_an_older_drawing_landing_last_is_drawn_over(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack, takeover: str
) -> None:
    """Worker 1's redraw (state A) is slow; its claim goes (run out, or released by a replica
    starting up) and worker 2 draws state B. Slack applies B, then A; worker 1 is answered
    first, worker 2 last. The database said Slack showed B, so nothing drew it again."""
    bot = bot_on_each_db
    start(bot)
    sync = bot.bot.workflow.slack_sync

    def rename(name: str) -> int:
        with session_scope(bot.engine) as session:
            project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
            assert project is not None
            project.name, project.version = name, project.version + 1
            queries.mark_messages_stale(session, project, kinds_and_phases=[(MessageKind.PARENT, 0)])
            return next(
                m.id or 0 for m in queries.list_messages(session, project.id or 0) if m.kind == "parent"
            )

    bot.clock.advance(timedelta(minutes=1))
    parent_id = rename("State A")
    updates = len(fake_slack.calls_to("chat.update"))
    first = fake_slack.hold("chat.update")  # worker 1's update waits at Slack, not applied yet
    worker_1 = threading.Thread(target=sync._redraw, args=(parent_id,), daemon=True)
    worker_1.start()
    assert fake_slack.wait_for_arrival("chat.update", count=updates + 1)
    fake_slack.hold("chat.update").set()
    if takeover == "the claim ran out":
        bot.clock.advance(CLAIM_TIMEOUT + timedelta(seconds=1))
    else:
        bot.clock.advance(timedelta(seconds=2))
        sync.release_redraw_claims()
    rename("State B")
    second_answer = fake_slack.hold_answers("chat.update")  # worker 2's update applied, answered late
    worker_2 = threading.Thread(target=sync._redraw, args=(parent_id,), daemon=True)
    worker_2.start()
    assert fake_slack.wait_for_arrival("chat.update", count=updates + 2)
    fake_slack.hold_answers("chat.update").set()  # later answers come at once
    first.set()  # Slack applies worker 1's older drawing over State B, and answers it
    worker_1.join(timeout=10)
    second_answer.set()
    worker_2.join(timeout=10)
    for _ in range(2):
        repair_later(bot, timedelta(minutes=3))
    assert parent_of(fake_slack, PROJECT_CHANNEL)["blocks"][0]["text"]["text"] == "Distillation: State B"
