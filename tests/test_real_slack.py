"""Where real Slack is stricter than a kind fake: channel membership, and whose posts are whose.

The default channel in these tests is the README's set-up: a public channel the bot was never
invited to. It can post there (chat:write.public) but reading needs membership, and every
recovery path reads back before it posts again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from bot.readback import find_in_thread
from storage import queries
from storage.engine import session_scope
from storage.models import NudgeStatus
from tests.checklist_flow import block_text, parent_of, press_button, replies_of
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, RunningBot

ANOTHER_APP: dict[str, Any] = {"user": "UOTHERBOT", "bot_id": "B0OTHER", "app_id": "A0OTHER"}


def replies_to_user(fake: FakeSlack) -> list[str]:
    return [response.body.get("text", "") for response in fake.responses]


def start(bot: RunningBot, text: str = "start Router", channel: str = PROJECT_CHANNEL) -> None:
    assert bot.slack.command(text, channel=channel).status == 200
    bot.settle()


def own_nudges(fake: FakeSlack) -> list[dict[str, Any]]:
    return [
        m
        for m in replies_of(fake, PROJECT_CHANNEL)
        if (m.get("metadata") or {}).get("event_type") == "distill_nudge" and m.get("bot_id") == "B0001"
    ]


def abandoned_start(bot: RunningBot, name: str = "Half made") -> int:
    """The row a worker killed mid-start leaves behind."""
    with session_scope(bot.engine) as session:
        project = queries.create_project(
            session,
            team_id=TEAM,
            channel_id=PROJECT_CHANNEL,
            name=name,
            checklist="default",
            started_by="UBOB",
            now=bot.clock(),
        )
        queries.add_owner(session, project, user_id="UBOB", added_by="UBOB", now=bot.clock())
        return project.id or 0


def lease_a_nudge_then_lose_the_worker(bot: RunningBot) -> tuple[int, str]:
    """A stall nudge claimed by a worker that died; returns (nudge id, the thread's ts)."""
    bot.clock.advance(timedelta(days=3))
    bot.bot.nudges._materialize_batch()
    [(nudge_id, _token)] = bot.bot.nudges._claim_batch()
    with Session(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
        thread_ts = queries.get_thread_ts(session, project.id or 0)  # type: ignore[union-attr]
    assert thread_ts is not None
    return nudge_id, thread_ts


# --- membership -----------------------------------------------------------------------------------


def test_start_in_a_public_channel_joins_it_so_the_thread_can_be_read_back(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    assert [call.args["channel"] for call in fake_slack.calls_to("conversations.join")] == [PROJECT_CHANNEL]
    parent = parent_of(fake_slack, PROJECT_CHANNEL)
    client = bot.bot.workflow.slack
    assert client.conversations_replies(channel=PROJECT_CHANNEL, ts=parent["ts"])["ok"]


def test_a_channel_that_cannot_be_joined_gets_the_truth_and_nothing_is_stored(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    fake_slack.fail("conversations.join", error="restricted_action")  # e.g. an admin policy
    start(bot)
    reply = replies_to_user(fake_slack)[-1]
    assert "can't join this channel" in reply and "/invite @Distill Bot" in reply
    assert fake_slack.calls_to("chat.postMessage") == []
    with Session(bot.engine) as session:
        assert queries.get_open_project(session, TEAM, PROJECT_CHANNEL) is None


def test_an_abandoned_start_that_cannot_be_read_back_says_so_instead_of_being_set_up(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    abandoned_start(bot)
    bot.clock.advance(timedelta(minutes=3))
    fake_slack.fail("conversations.history", error="not_in_channel")
    start(bot)
    reply = replies_to_user(fake_slack)[-1]
    assert "did not finish" in reply and "not_in_channel" in reply, reply
    assert "being set up" not in reply
    assert fake_slack.calls_to("chat.postMessage") == []  # never risk a second parent message

    start(bot)  # Slack shows the channel again: the start goes ahead
    assert "Router" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))


def test_a_nudge_that_cannot_be_read_back_pauses_with_that_reason(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """A project from before the bot joined channels (or the bot was removed since): the lease of a
    dead worker runs out and the thread cannot be read. The nudge must not be posted blindly, and
    the pause must say why, not "I was removed"."""
    start(bot)
    lease_a_nudge_then_lose_the_worker(bot)
    fake_slack.set_channel(PROJECT_CHANNEL, is_member=False)
    fake_slack.fail("conversations.join", error="restricted_action", times=10)  # nor may it join again
    bot.clock.advance(timedelta(minutes=6))
    assert bot.run_nudges() == 0
    assert own_nudges(fake_slack) == []
    start(bot, "status")
    status = replies_to_user(fake_slack)[-1]
    assert "paused" in status and "can't read this channel's thread" in status, status
    assert "removed" not in status

    fake_slack.set_channel(PROJECT_CHANNEL, is_member=True)  # someone invites the bot
    start(bot, "schedule resume")
    assert bot.run_nudges() == 1
    assert len(own_nudges(fake_slack)) == 1


def test_removed_from_a_public_channel_the_bot_joins_again_to_read_its_thread_back(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    lease_a_nudge_then_lose_the_worker(bot)
    fake_slack.set_channel(PROJECT_CHANNEL, is_member=False)  # someone removed the bot
    bot.clock.advance(timedelta(minutes=6))
    assert bot.run_nudges() == 1  # read back (after joining again), found nothing, posted once
    assert len(own_nudges(fake_slack)) == 1
    assert [call.ok for call in fake_slack.calls_to("conversations.join")][-1:] == [True]


# --- only the bot's own posts are adopted -----------------------------------------------------------


def test_a_look_alike_nudge_from_another_app_is_not_adopted(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    nudge_id, thread_ts = lease_a_nudge_then_lose_the_worker(bot)
    look_alike = fake_slack.add_message(
        PROJECT_CHANNEL,
        "stall",
        thread_ts=thread_ts,
        metadata={"event_type": "distill_nudge", "event_payload": {"nudge_id": nudge_id}},
        **ANOTHER_APP,
    )
    bot.clock.advance(timedelta(minutes=6))  # the dead worker's lease runs out: read back, then post
    assert bot.run_nudges() == 1
    [own] = own_nudges(fake_slack)
    [nudge] = [n for n in queries_nudges(bot) if n.id == nudge_id]
    assert (nudge.status, nudge.ts) == (NudgeStatus.SENT, own["ts"])
    assert nudge.ts != look_alike


def test_a_look_alike_parent_from_another_app_is_not_adopted(bot: RunningBot, fake_slack: FakeSlack) -> None:
    project_id = abandoned_start(bot)
    fake_slack.set_channel(PROJECT_CHANNEL, is_member=True)
    look_alike = fake_slack.add_message(
        PROJECT_CHANNEL,
        "Distillation: Half made",
        metadata={"event_type": "distill_parent", "event_payload": {"project_id": project_id}},
        **ANOTHER_APP,
    )
    bot.clock.advance(timedelta(minutes=3))
    start(bot, "start Something new")
    own_parents = [
        m
        for m in fake_slack.messages(PROJECT_CHANNEL)
        if m.get("bot_id") == "B0001" and m.get("thread_ts") in (None, m["ts"])
    ]
    assert len(own_parents) == 1 and own_parents[0]["ts"] != look_alike
    assert "Something new" in block_text(own_parents[0])
    assert "Something new" not in block_text(fake_slack.message(PROJECT_CHANNEL, look_alike))


def test_the_bots_identity_is_asked_once(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    thread_ts = parent_of(fake_slack, PROJECT_CHANNEL)["ts"]
    before = len(fake_slack.calls_to("auth.test"))
    for nudge_id in range(3):
        assert find_in_thread(bot.bot.workflow.slack, PROJECT_CHANNEL, thread_ts, "x", "n", nudge_id) == []
    assert len(fake_slack.calls_to("conversations.replies")) >= 3
    assert len(fake_slack.calls_to("auth.test")) - before <= 1


def queries_nudges(bot: RunningBot) -> list[Any]:
    with Session(bot.engine) as session:
        return queries.list_nudges(session)


# --- forms open on their own fast path --------------------------------------------------------------


def click_waive(bot: RunningBot, message: dict[str, Any]) -> None:
    """Press "Waive an item" on a phase message, without waiting for anything to finish."""
    assert press_button(bot, PROJECT_CHANNEL, message, "waive:open", wait=False).status == 200


def test_a_form_opens_while_every_background_thread_waits_on_slack(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    phase_one = fake_slack.message(PROJECT_CHANNEL, replies_of(fake_slack, PROJECT_CHANNEL)[0]["ts"])
    busy = [f"C0BUSY{n:02d}" for n in range(bot.background._max_workers + 4)]
    for channel in busy:
        fake_slack.add_channel(channel, channel.lower())
    held = fake_slack.hold("chat.postMessage")
    try:
        for channel in busy:  # every background thread waits on Slack, more work queued behind
            assert bot.slack.command("start Busy", channel=channel).status == 200
        assert fake_slack.wait_for_arrival("chat.postMessage", count=bot.background._max_workers + 1)
        click_waive(bot, phase_one)
        # within the trigger_id's life, while the background's work is still stuck
        assert fake_slack.wait_for_call("views.open", timeout=2.5)
        [opened] = fake_slack.calls_to("views.open")
        assert opened.ok, opened.response
    finally:
        held.set()
    bot.settle()


def test_a_rate_limited_form_is_refused_at_once_not_after_retry_after(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """Sleeping through Retry-After outlives the trigger_id: say so at once, the user clicks again."""
    start(bot)
    phase_one = fake_slack.message(PROJECT_CHANNEL, replies_of(fake_slack, PROJECT_CHANNEL)[0]["ts"])
    fake_slack.fail("views.open", status=429, retry_after=5)
    click_waive(bot, phase_one)
    assert fake_slack.wait_for_call("response_url", count=1, timeout=2.5)
    assert "Click the button again" in replies_to_user(fake_slack)[-1]
    bot.settle()
    assert len(fake_slack.calls_to("views.open")) == 1  # no retry with a trigger that is dead by then
    click_waive(bot, phase_one)
    bot.settle()
    assert fake_slack.calls_to("views.open")[-1].ok


# --- any text typed after /distill reaches the command ---------------------------------------------


def test_command_text_bolt_would_drop_reaches_the_command(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """Bolt takes a form body holding the word "payload" anywhere for an interaction, and loses it."""
    start(bot, "start payload parser")
    assert "payload parser" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))


def test_every_kind_of_text_reaches_the_command_unchanged(bot: RunningBot, fake_slack: FakeSlack) -> None:
    name = "R&D = 100% + “ünïcødé” ✓ a+b=c; x&y <z> #1 payload={} é"
    start(bot, f"start {name}")
    with Session(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
        assert project is not None and project.name == name

    long_text = "schedule " + "stall every 2d " * 266  # 4,000 characters
    assert len(long_text) >= 3990
    answered = len(fake_slack.responses)
    start(bot, long_text)
    assert len(fake_slack.responses) == answered + 1  # an answer, whatever it says
    assert fake_slack.responses[-1].ok
