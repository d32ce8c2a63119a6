"""The core workflow, driven through POST /slack/events with Slack-signed requests."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from bot.rendering.messages import HELP_TEXT
from bot.slack_sync import SETTLE
from storage import queries
from storage.engine import session_scope
from tests.checklist_flow import (
    TEMPLATE,
    block_text,
    is_ticked,
    item_section,
    parent_of,
    phase_messages,
    replies_of,
    tick_phase,
)
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import RunningBot

FIRST_PHASE = TEMPLATE.phase(1)


def replies_to_user(fake: FakeSlack) -> list[str]:
    return [response.body.get("text", "") for response in fake.responses]


def start(bot: RunningBot, text: str = "start Support-ticket router", **kwargs: object) -> None:
    result = bot.slack.command(text, **kwargs)  # type: ignore[arg-type]
    assert result.status == 200, result
    bot.settle()


def test_start_posts_parent_and_first_phase_in_its_thread(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)

    parent = parent_of(fake_slack, PROJECT_CHANNEL)
    text = block_text(parent)
    assert "Support-ticket router" in text
    assert "<@UALICE>" in text
    assert f"Phase 1 of {len(TEMPLATE.phases)}" in text
    assert f"0/{TEMPLATE.item_count} items" in text

    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    assert phase_one["thread_ts"] == parent["ts"]
    phase_text = block_text(phase_one)
    assert FIRST_PHASE.title in phase_text
    for item in FIRST_PHASE.items:
        assert item.title in phase_text
        assert item.reason in phase_text
        assert not is_ticked(phase_one, item.key)
    assert replies_to_user(fake_slack) == []


def test_start_without_a_name_uses_the_channel_name(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, "start")
    assert "Distillation: support-router" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))


def test_repeated_start_creates_nothing_and_links_the_thread(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    posts = len(fake_slack.calls_to("chat.postMessage"))

    start(bot, "start Something else", user="UBOB")

    assert len(fake_slack.calls_to("chat.postMessage")) == posts
    [reply] = replies_to_user(fake_slack)
    permalink = fake_slack.calls_to("chat.getPermalink")[0].response["permalink"]
    assert "already has a distillation project" in reply
    assert permalink in reply


def test_ack_comes_before_slack_answers(bot: RunningBot, fake_slack: FakeSlack) -> None:
    held = fake_slack.hold("chat.postMessage")
    try:
        result = bot.slack.command("start Held")
        assert result.status == 200
        # The bot's first post has reached Slack, which has not answered it: the ack came first.
        assert fake_slack.wait_for_arrival("chat.postMessage")
        assert fake_slack.calls_to("chat.postMessage") == []
    finally:
        held.set()
    bot.settle()
    assert "Held" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))


def test_tick_and_untick_are_stored_shown_and_recorded(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    item = FIRST_PHASE.items[0]

    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item.key, selected=True, user="UBOB")
    bot.settle()

    shown = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    assert is_ticked(shown, item.key)
    assert "<@UBOB>" in item_section(shown, item.key)["text"]["text"]
    assert "<!date^" in item_section(shown, item.key)["text"]["text"]
    assert f"1/{TEMPLATE.item_count} items" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))

    bot.clock.advance(timedelta(minutes=5))
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item.key, selected=False, user="UCAROL")
    bot.settle()

    shown = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    assert not is_ticked(shown, item.key)
    assert f"0/{TEMPLATE.item_count} items" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))
    with Session(bot.engine) as session:
        events = [(e.action, e.user_id, e.item_key, e.at) for e in queries.list_tick_events(session, 1)]
    start_time = bot.clock() - timedelta(minutes=5)
    assert events == [("tick", "UBOB", item.key, start_time), ("untick", "UCAROL", item.key, bot.clock())]


def test_gate_opens_phase_two_only_after_the_last_phase_one_item(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    *all_but_last, last = FIRST_PHASE.items
    for item in all_but_last:
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item.key, selected=True)
        bot.settle()
        assert len(phase_messages(fake_slack, PROJECT_CHANNEL)) == 1

    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], last.key, selected=True, user="UBOB")
    bot.settle()

    replies = replies_of(fake_slack, PROJECT_CHANNEL)
    assert len(replies) == 3  # phase 1, the gate notice, phase 2
    notice = block_text(replies[1])
    assert "Phase 1 complete" in notice and "Phase 2 is open" in notice
    assert TEMPLATE.phase(2).title in block_text(replies[2])
    summary = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    assert all("accessory" not in block for block in summary["blocks"]), "a passed phase is read-only"
    assert "<@UBOB>" in block_text(summary) and "<@UALICE>" in block_text(summary)
    assert "Phase 2 of 7" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))


def test_full_run_ships_the_project(bot_on_each_db: RunningBot, fake_slack: FakeSlack) -> None:
    bot = bot_on_each_db
    start(bot)
    for phase_number in range(1, len(TEMPLATE.phases) + 1):
        tick_phase(bot, fake_slack, PROJECT_CHANNEL, phase_number)

    parent_text = block_text(parent_of(fake_slack, PROJECT_CHANNEL))
    assert "Shipped" in parent_text
    assert f"{TEMPLATE.item_count}/{TEMPLATE.item_count}" in parent_text or "all 32 items" in parent_text
    phases = phase_messages(fake_slack, PROJECT_CHANNEL)
    assert len(phases) == len(TEMPLATE.phases)
    assert all("accessory" not in b for message in phases for b in message["blocks"])
    assert "has shipped" in block_text(replies_of(fake_slack, PROJECT_CHANNEL)[-1])

    bot.slack.command("status")
    bot.settle()
    assert "shipped" in replies_to_user(fake_slack)[-1]


def test_concurrent_ticks_on_stale_messages_both_stand(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    bot = bot_on_each_db
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    stale = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])  # both clients drew this version
    items = [item.key for item in FIRST_PHASE.items[:4]]
    users = ["UALICE", "UBOB", "UCAROL", "UDAVE"]
    barrier = threading.Barrier(len(items))

    def click(item_key: str, user: str) -> None:
        barrier.wait()
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item_key, selected=True, user=user, message=stale)

    threads = [threading.Thread(target=click, args=pair) for pair in zip(items, users, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.settle()

    shown = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    assert [is_ticked(shown, key) for key in items] == [True] * len(items)
    assert f"{len(items)}/{TEMPLATE.item_count} items" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))


def test_racing_last_ticks_open_the_next_phase_once(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    bot = bot_on_each_db
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    *first, second_last, last = FIRST_PHASE.items
    for item in first:
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item.key, selected=True)
        bot.settle()
    stale = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    barrier = threading.Barrier(2)

    def click(item_key: str, user: str) -> None:
        barrier.wait()
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item_key, selected=True, user=user, message=stale)

    threads = [
        threading.Thread(target=click, args=(second_last.key, "UBOB")),
        threading.Thread(target=click, args=(last.key, "UCAROL")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.settle()

    replies = replies_of(fake_slack, PROJECT_CHANNEL)
    assert len(replies) == 3, [block_text(reply)[:60] for reply in replies]
    assert "Phase 1 complete" in block_text(replies[1])
    assert TEMPLATE.phase(2).title in block_text(replies[2])
    assert f"{len(FIRST_PHASE.items)}/{TEMPLATE.item_count} items" in block_text(
        parent_of(fake_slack, PROJECT_CHANNEL)
    )


def test_stale_client_cannot_untick_a_newer_tick(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    item = FIRST_PHASE.items[0].key
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item, selected=True, user="UBOB")
    bot.settle()
    seen_by_alice = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])  # shows Bob's tick
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item, selected=False, user="UBOB")
    bot.settle()
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item, selected=True, user="UCAROL")
    bot.settle()

    # Alice's client still shows Bob's old tick; she unticks what she sees.
    bot.slack.click(
        PROJECT_CHANNEL, phase_one["ts"], item, selected=False, user="UALICE", message=seen_by_alice
    )
    bot.settle()

    assert is_ticked(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), item)
    assert (
        "<@UCAROL>"
        in item_section(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), item)["text"]["text"]
    )
    assert "stays ticked" in replies_to_user(fake_slack)[-1]


def test_double_click_and_slack_retry_change_nothing_twice(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    item = FIRST_PHASE.items[0].key
    stale = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    retried = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    for headers in (None, None, retried):
        click = bot.slack.click(
            PROJECT_CHANNEL,
            phase_one["ts"],
            item,
            selected=True,
            user="UBOB",
            message=stale,
            extra_headers=headers,
        )
        assert click.status == 200
    bot.settle()
    with Session(bot.engine) as session:
        assert [e.action for e in queries.list_tick_events(session, 1)] == ["tick"]


def test_status_lists_what_is_open_with_a_link(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    ticked = FIRST_PHASE.items[0]
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], ticked.key, selected=True)
    bot.settle()

    bot.slack.command("status", user="UBOB")
    bot.settle()

    reply = replies_to_user(fake_slack)[-1]
    assert "Phase 1 of 7" in reply and "1/32" in reply
    assert ticked.title not in reply
    assert all(item.title in reply for item in FIRST_PHASE.items[1:])
    assert fake_slack.calls_to("chat.getPermalink")[0].response["permalink"] in reply
    assert all(response.body.get("response_type") == "ephemeral" for response in fake_slack.responses)


def test_help_and_unknown_subcommands_answer_in_the_ack(bot: RunningBot, fake_slack: FakeSlack) -> None:
    assert bot.slack.command("help").json()["text"] == HELP_TEXT
    assert bot.slack.command("").json()["text"] == HELP_TEXT
    unknown = bot.slack.command("launch rockets").json()
    assert "I don't know `/distill launch`" in unknown["text"]
    bot.settle()
    assert fake_slack.calls_to("chat.postMessage") == []


def test_status_without_a_project_says_how_to_start(bot: RunningBot, fake_slack: FakeSlack) -> None:
    bot.slack.command("status")
    bot.settle()
    assert "/distill start" in replies_to_user(fake_slack)[-1]


def test_start_in_a_private_channel_without_the_bot_explains_and_stores_nothing(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot, "start Secret", channel="C0SECRET")
    assert "invite me" in replies_to_user(fake_slack)[-1].lower()
    with Session(bot.engine) as session:
        assert queries.get_open_project(session, "T0001", "C0SECRET") is None
    fake_slack.set_channel("C0SECRET", is_member=True)  # the team invites the bot
    start(bot, "start Secret", channel="C0SECRET")
    assert "Distillation: Secret" in block_text(parent_of(fake_slack, "C0SECRET"))


def test_start_in_a_direct_message_explains(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, "start", channel="D0DIRECT")
    assert "direct messages" in replies_to_user(fake_slack)[-1]
    assert fake_slack.calls_to("chat.postMessage") == []


def test_slack_rate_limits_and_errors_are_ridden_out(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=0, times=1)
    fake_slack.fail("chat.update", status=503, retry_after=None, times=1)
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], FIRST_PHASE.items[0].key, selected=True)
    bot.settle()
    assert len(fake_slack.messages(PROJECT_CHANNEL)) == 2  # nothing posted twice
    assert is_ticked(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), FIRST_PHASE.items[0].key)


def test_clicks_on_a_locked_phase_change_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    tick_phase(bot, fake_slack, PROJECT_CHANNEL, 1)
    phase_one, phase_two = phase_messages(fake_slack, PROJECT_CHANNEL)
    # A client still showing Phase 1's checkboxes (the message before it turned read-only).
    stale_phase_one = fake_slack.calls_to("chat.postMessage")[1].args
    stale_phase_one = {**stale_phase_one, "ts": phase_one["ts"], "thread_ts": phase_one["thread_ts"]}
    bot.slack.click(
        PROJECT_CHANNEL, phase_one["ts"], FIRST_PHASE.items[0].key, selected=False, message=stale_phase_one
    )
    bot.settle()
    assert "read-only" in replies_to_user(fake_slack)[-1]

    # A forged click on Phase 3, which is not open yet.
    forged = {**phase_two, "blocks": [dict(b) for b in phase_two["blocks"]]}
    section = item_section(forged, TEMPLATE.phase(2).items[0].key)
    section["block_id"] = section["block_id"].replace(":2:", ":3:", 1)
    section["accessory"] = {**section["accessory"], "action_id": f"item:{TEMPLATE.phase(3).items[0].key}"}
    section["accessory"]["options"] = [
        {**section["accessory"]["options"][0], "value": TEMPLATE.phase(3).items[0].key}
    ]
    section["block_id"] = section["block_id"].replace(
        TEMPLATE.phase(2).items[0].key, TEMPLATE.phase(3).items[0].key
    )
    bot.slack.click(
        PROJECT_CHANNEL, phase_two["ts"], TEMPLATE.phase(3).items[0].key, selected=True, message=forged
    )
    bot.settle()
    assert "locked" in replies_to_user(fake_slack)[-1]
    with Session(bot.engine) as session:
        ticks = {t.item_key for t in queries.list_ticks(session, 1)}
    assert ticks == {item.key for item in FIRST_PHASE.items}


def test_clicks_from_another_channel_change_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    message = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
    bot.slack.click(OTHER_CHANNEL, phase_one["ts"], FIRST_PHASE.items[0].key, selected=True, message=message)
    bot.settle()
    assert "another channel" in replies_to_user(fake_slack)[-1]
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], FIRST_PHASE.items[0].key, selected=True, team="T0OTHER")
    bot.settle()
    assert "another channel" in replies_to_user(fake_slack)[-1]
    with Session(bot.engine) as session:
        assert queries.list_ticks(session, 1) == []


def test_a_start_abandoned_by_a_crashed_worker_does_not_block_the_channel(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    with session_scope(bot.engine) as session:  # what a worker killed mid-start leaves behind
        queries.create_project(
            session,
            team_id="T0001",
            channel_id=PROJECT_CHANNEL,
            name="Lost",
            checklist="default",
            started_by="UBOB",
            now=bot.clock(),
        )
    start(bot)
    assert "being set up" in replies_to_user(fake_slack)[-1]
    assert fake_slack.calls_to("chat.postMessage") == []

    bot.clock.advance(timedelta(minutes=3))
    start(bot)
    assert "Support-ticket router" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))
    assert len(replies_of(fake_slack, PROJECT_CHANNEL)) == 1


def test_acks_never_queue_behind_a_stuck_slack(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """More requests than there are worker threads, while Slack answers none of them."""
    channels = [f"C0BUSY{n:02d}" for n in range(30)]
    for channel in channels:
        fake_slack.add_channel(channel, channel.lower())
    held = fake_slack.hold("chat.postMessage")
    try:
        for channel in channels:
            assert bot.slack.command("start Busy", channel=channel).status == 200
        assert fake_slack.calls_to("chat.postMessage") == []  # every ack came while Slack held every post
    finally:
        held.set()
    bot.settle()
    assert all(len(fake_slack.messages(channel)) == 2 for channel in channels)


def test_a_phase_message_posted_by_a_worker_that_died_is_adopted_not_posted_again(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    *first, last = FIRST_PHASE.items
    [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
    for item in first:
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item.key, selected=True)
        bot.settle()
    # The gate opens but Slack fails the notice, so it and Phase 2's message wait, unposted
    # (Slack says fatal_error may have stored it: nobody posts it again before it settles).
    fake_slack.fail("chat.postMessage", error="fatal_error")
    bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], last.key, selected=True)
    bot.settle()
    assert len(replies_of(fake_slack, PROJECT_CHANNEL)) == 1
    bot.clock.advance(SETTLE)

    # A worker claims the notice, posts it, and dies before recording it.
    with session_scope(bot.engine) as session:
        notice = next(m for m in queries.list_messages(session, 1) if m.kind == "phase_done")
        assert queries.claim_message(
            session, notice.id or 0, now=bot.clock(), stale_after=timedelta(minutes=2)
        )
    bot.bot.workflow.slack.chat_postMessage(
        channel=PROJECT_CHANNEL,
        thread_ts=phase_one["thread_ts"],
        text="Phase 1 complete.",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Phase 1 complete."}}],
        metadata={"event_type": "distill_message", "event_payload": {"message_id": notice.id}},
    )
    bot.bot.workflow.slack_sync.repair()
    assert len(replies_of(fake_slack, PROJECT_CHANNEL)) == 2  # still claimed: nothing posted meanwhile

    bot.clock.advance(timedelta(minutes=3))  # the dead worker's claim runs out
    bot.bot.workflow.slack_sync.repair()
    replies = replies_of(fake_slack, PROJECT_CHANNEL)
    assert len(replies) == 3, [block_text(r)[:40] for r in replies]  # phase 1, the adopted notice, phase 2
    assert "Phase 2 is open" in block_text(replies[1])  # adopted, then redrawn from the database
    assert TEMPLATE.phase(2).title in block_text(replies[2])


def test_a_start_whose_worker_died_after_posting_is_adopted_not_posted_again(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    with session_scope(bot.engine) as session:  # the row a worker killed mid-start leaves behind
        project = queries.create_project(
            session,
            team_id="T0001",
            channel_id=PROJECT_CHANNEL,
            name="Half made",
            checklist="default",
            started_by="UBOB",
            now=bot.clock(),
        )
        queries.add_owner(session, project, user_id="UBOB", added_by="UBOB", now=bot.clock())
        project_id = project.id
    parent_ts = bot.bot.workflow.slack.chat_postMessage(  # ... after Slack had taken its parent message
        channel=PROJECT_CHANNEL,
        text="Distillation checklist for Half made",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Distillation: Half made"}}],
        metadata={"event_type": "distill_parent", "event_payload": {"project_id": project_id}},
    )["ts"]

    bot.clock.advance(timedelta(minutes=3))
    start(bot, "start Something new")

    parent = parent_of(fake_slack, PROJECT_CHANNEL)
    assert parent["ts"] == parent_ts  # adopted, not posted again...
    assert "Phase 1 of 7 · 0/32 items" in block_text(parent)  # ... and redrawn from the database
    assert len(replies_of(fake_slack, PROJECT_CHANNEL)) == 1  # Phase 1, in the adopted thread
    assert "already has a distillation project, *Half made*" in replies_to_user(fake_slack)[-1]
