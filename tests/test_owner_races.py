"""Owner changes on PostgreSQL, where two requests really run at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from bot.fake_slack import FakeSlack
from storage import queries
from tests.support import FakeClock, RunningBot, other_postgres_sessions


@pytest.fixture
def pg_bot(fake_slack: FakeSlack, postgres_url: str, clock: FakeClock) -> Iterator[RunningBot]:
    running = RunningBot(fake_slack, postgres_url, clock)
    yield running
    running.stop()


def test_two_owners_removing_each_other_at_once_leave_one_owner(
    pg_bot: RunningBot, fake_slack: FakeSlack, postgres_url: str
) -> None:
    bot = pg_bot
    bot.slack.command("start Router", user="UALICE")
    bot.settle()
    bot.slack.command("owners add <@UBOB>", user="UALICE")
    bot.settle()

    # Another transaction holds both owner rows, so each removal stops just before its
    # delete: both requests are in flight together, whatever the thread timing.
    blocker = create_engine(postgres_url)
    with blocker.connect() as held:
        held.execute(text("SELECT id FROM owner FOR UPDATE"))
        bot.slack.command("owners remove <@UBOB>", user="UALICE")
        bot.slack.command("owners remove <@UALICE>", user="UBOB")
        deadline = time.monotonic() + 20
        # until both requests are inside their transactions, waiting for the held lock
        while other_postgres_sessions(postgres_url, "wait_event_type = 'Lock'") < 2:
            assert time.monotonic() < deadline, "the two removals never both reached the database"
            time.sleep(0.01)
        held.rollback()
    blocker.dispose()
    bot.settle()

    with Session(bot.engine) as session:
        owners = queries.list_owners(session, 1)
    assert len(owners) == 1, owners
    replies = [r.body.get("text", "") for r in fake_slack.responses[-2:]]
    assert sum("is no longer an owner" in reply for reply in replies) == 1, replies
