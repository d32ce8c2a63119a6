"""Clicks are stored as they came before their ack, and the gate applies them after it: each
exactly once, in the order they came, whichever worker (or replica) gets there first."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import Session, select

from bot.clicks import APPLIED_CLICKS_KEPT, CLICK_FAILED, CLICKS_PER_TRANSACTION, StoredClick
from bot.fake_slack import FakeSlack
from bot.rendering.ids import ItemRef
from bot.workflow import ItemClick, Workflow
from storage import queries
from storage.models import ReceivedClick
from tests.checklist_flow import TEMPLATE, phase_messages
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, RunningBot

FIRST, SECOND = (item.key for item in TEMPLATE.phase(1).items[:2])


def started(bot: RunningBot) -> int:
    assert bot.slack.command("start Router").status == 200
    bot.settle()
    with Session(bot.engine) as session:
        project = queries.get_open_project(session, TEAM, PROJECT_CHANNEL)
        assert project is not None and project.id is not None
        return project.id


def store(bot: RunningBot, project_id: int, item_key: str, selected: bool, user: str) -> StoredClick:
    with Session(bot.engine) as session:
        version = queries.get_project(session, project_id).version  # type: ignore[union-attr]
    ref = ItemRef(project_id, 1, item_key, version)
    stored = bot.bot.clicks.store(ItemClick(TEAM, PROJECT_CHANNEL, user, ref, selected))
    assert stored.click_id is not None
    return stored


def test_waiting_clicks_are_applied_once_each_in_the_order_they_came(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    bot = bot_on_each_db
    project_id = started(bot)
    clicks = [
        (FIRST, True, "UALICE"),
        (SECOND, True, "UBOB"),
        (FIRST, False, "UALICE"),
        (FIRST, True, "UCAROL"),
        (SECOND, False, "UBOB"),
    ]
    for item_key, selected, user in clicks:
        store(bot, project_id, item_key, selected, user)

    # Four workers at once, as four clicks' background jobs (or replicas) would.
    go = threading.Barrier(4)
    answers: list[bool] = []

    def work() -> None:
        go.wait()
        answers.append(bot.bot.clicks.apply_waiting(project_id)[0])

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert answers == [True] * 4

    with Session(bot.engine) as session:
        events = [(e.item_key, e.action, e.user_id) for e in queries.list_tick_events(session, project_id)]
        assert events == [
            (FIRST, "tick", "UALICE"),
            (SECOND, "tick", "UBOB"),
            (FIRST, "untick", "UALICE"),
            (FIRST, "tick", "UCAROL"),
            (SECOND, "untick", "UBOB"),
        ]
        assert not queries.waiting_clicks(session, project_id, limit=100)
        tick = queries.get_tick(session, project_id, FIRST)
        assert tick is not None and tick.ticked_by == "UCAROL"
        assert queries.get_tick(session, project_id, SECOND) is None


def test_a_backlog_is_applied_a_few_clicks_to_a_transaction_in_order_and_answers_its_click(
    bot_on_each_db: RunningBot, fake_slack: FakeSlack
) -> None:
    """On SQLite the applying transaction holds the only write lock, and every ack storing a
    click waits for it: a long backlog in one transaction made those acks wait for all of it.
    Between batches, requests being answered go first (the inbox's wait_turn)."""
    bot = bot_on_each_db
    project_id = started(bot)
    for n in range(2 * CLICKS_PER_TRANSACTION):
        store(bot, project_id, FIRST, n % 2 == 0, "UALICE")
    with Session(bot.engine) as session:
        version = queries.get_project(session, project_id).version  # type: ignore[union-attr]
    locked = ItemRef(project_id, 2, TEMPLATE.phase(2).items[0].key, version)
    last = bot.bot.clicks.store(ItemClick(TEAM, PROJECT_CHANNEL, "UBOB", locked, True))

    steps: list[str] = []

    def committed(_connection: object) -> None:
        steps.append("commit")

    event.listen(bot.engine, "commit", committed)
    bot.bot.clicks.wait_turn = lambda: steps.append("turn")
    try:
        exists, reply = bot.bot.clicks.apply_waiting(project_id, answer_for=last.click_id)
    finally:
        event.remove(bot.engine, "commit", committed)

    assert exists and reply is not None and "locked" in reply.lower()
    assert steps == ["commit", "turn", "commit", "turn", "commit"]  # two full batches, then the last
    with Session(bot.engine) as session:
        actions = [(e.item_key, e.action) for e in queries.list_tick_events(session, project_id)]
        assert actions == [(FIRST, "tick"), (FIRST, "untick")] * CLICKS_PER_TRANSACTION
        assert not queries.waiting_clicks(session, project_id, limit=100)


def test_a_click_that_fails_to_apply_is_answered_and_holds_back_no_later_click(
    bot: RunningBot, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    project_id = started(bot)
    failing = store(bot, project_id, FIRST, True, "UBOB")
    later = store(bot, project_id, SECOND, True, "UALICE")
    decide = Workflow.decide_click

    def decide_or_fail(self: Workflow, session: Session, project: object, click: ItemClick) -> str | None:
        if click.user_id == "UBOB":
            raise RuntimeError("a bug in the gate")
        return decide(self, session, project, click)  # type: ignore[arg-type]

    monkeypatch.setattr(Workflow, "decide_click", decide_or_fail)
    assert bot.bot.clicks.apply(later) is None  # applies the failing one first, then this
    monkeypatch.undo()
    assert bot.bot.clicks.apply(failing) == CLICK_FAILED
    bot.settle()
    with Session(bot.engine) as session:
        assert queries.get_tick(session, project_id, FIRST) is None
        assert queries.get_tick(session, project_id, SECOND) is not None
        assert not queries.waiting_clicks(session, project_id, limit=100)  # not retried on every beat
    [phase_one] = phase_messages(fake_slack, PROJECT_CHANNEL)
    assert "1/" in phase_one["text"]


def test_the_beat_applies_what_no_worker_took_and_forgets_old_replies(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    project_id = started(bot)
    store(bot, project_id, FIRST, True, "UALICE")  # stored before an ack, its job never ran
    assert bot.bot.clicks.apply_left_waiting() == 1
    assert bot.bot.clicks.apply_left_waiting() == 0
    with Session(bot.engine) as session:
        assert queries.get_tick(session, project_id, FIRST) is not None
    bot.clock.advance(APPLIED_CLICKS_KEPT - timedelta(minutes=1))
    bot.bot.clicks.apply_left_waiting()
    with Session(bot.engine) as session:
        assert len(session.exec(select(ReceivedClick)).all()) == 1
    bot.clock.advance(timedelta(minutes=2))
    bot.bot.clicks.apply_left_waiting()
    with Session(bot.engine) as session:
        assert session.exec(select(ReceivedClick)).all() == []
        assert queries.get_tick(session, project_id, FIRST) is not None  # the tick stays
