"""Counts that keep the bot cheap where Slack and a growing workspace judge it.

Counts, never timings (those are in benchmarks/perf.py): Slack calls per burst of ticks,
and database statements per tick whatever the number of projects stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, insert
from sqlmodel import col

from bot.fake_slack import FakeSlack
from storage.models import MessageKind, PostedMessage, Project, ProjectStatus
from tests.checklist_flow import TEMPLATE, parent_of, replies_of, stored_drawing
from tests.conftest import PROJECT_CHANNEL
from tests.support import TEAM, FakeClock, RunningBot

BURST = 30


def start(bot: RunningBot) -> dict[str, Any]:
    assert bot.slack.command("start Router").status == 200
    bot.settle()
    return replies_of(bot.slack.fake, PROJECT_CHANNEL)[0]


def test_a_burst_of_ticks_redraws_each_message_twice_and_ends_at_the_database(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    phase_one = start(bot)
    items = [item.key for item in TEMPLATE.phase(1).items[:5]]
    before = len(fake_slack.calls)
    for n in range(BURST):  # tick, untick, tick... five items, three people, within one (fake) second
        selected = (n // len(items)) % 2 == 0 or n >= BURST - len(items)
        result = bot.slack.click(
            PROJECT_CHANNEL,
            phase_one["ts"],
            items[n % len(items)],
            selected=selected,
            user=f"U{n % len(items) % 3}",
            message=phase_one,
        )
        assert result.status == 200
    bot.settle()

    calls = fake_slack.calls[before:]
    parent_ts = parent_of(fake_slack, PROJECT_CHANNEL)["ts"]
    # The parent and the phase message: each drawn once the first click is applied, then once
    # more when the interval is up (or once in all, when the jobs gave way to the burst's
    # requests until it ended and the first one applied every click).
    updates = Counter(str(call.args["ts"]) for call in calls if call.method == "chat.update")
    assert set(updates) == {phase_one["ts"], parent_ts}
    assert updates[phase_one["ts"]] == updates[parent_ts] <= 2
    assert bot.timers.delays == [1.0] * len(updates) * (updates[parent_ts] - 1)  # the second draws
    assert len(calls) / BURST <= 0.3  # every Web API call of the burst
    for ts, blocks in stored_drawing(bot).items():
        assert fake_slack.message(PROJECT_CHANNEL, ts)["blocks"] == blocks


def test_a_tick_after_the_interval_is_drawn_at_once(
    bot: RunningBot, fake_slack: FakeSlack, clock: FakeClock
) -> None:
    phase_one = start(bot)
    item = TEMPLATE.phase(1).items[0].key
    for selected in (True, False, True):
        clock.advance(timedelta(seconds=1))
        before = len(fake_slack.calls_to("chat.update"))
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item, selected=selected, message=phase_one)
        bot.background.wait_idle()
        bot.executor.wait_idle()
        assert len(fake_slack.calls_to("chat.update")) - before == 2  # no waiting: parent and phase
    assert bot.timers.delays == []


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def transactions_of(statements: list[str]) -> list[list[str]]:
    """The statements after each BEGIN, each on one line (those before the first are left out)."""
    transactions: list[list[str]] = []
    for statement in statements:
        if statement.startswith("BEGIN"):
            transactions.append([])
        elif transactions:
            transactions[-1].append(" ".join(statement.split()))
    return transactions


def test_before_its_ack_a_click_is_one_insert_and_the_gate_reads_each_thing_once(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """Before the ack the click is only stored as it came: one insert that commits itself,
    nothing read, no BEGIN nor COMMIT. The gate applies it after the ack, holding the
    project's lock: every repeated read there is paid by every click of the project queued
    behind it."""
    phase_one = start(bot)
    with counting(bot.engine) as statements:
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], TEMPLATE.phase(1).items[0].key, selected=True)
        bot.settle()
    first_begin = next(n for n, s in enumerate(statements) if s.startswith("BEGIN"))
    assert [s.split(" (")[0] for s in statements[:first_begin]] == ["INSERT INTO received_click"]
    transactions = transactions_of(statements)
    [applied] = [t for t in transactions if any(s.startswith("INSERT INTO tick ") for s in t)]
    reads = [s for s in applied if s.startswith("SELECT")]
    assert len(reads) == len(set(reads)), "\n".join(reads)


def test_each_transaction_of_a_start_and_a_click_reads_each_thing_once(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """Posting and redrawing the thread's messages read what they draw in one transaction each:
    a second read of the same row there is paid for every message of every click."""
    with counting(bot.engine) as statements:
        phase_one = start(bot)
        bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], TEMPLATE.phase(1).items[0].key, selected=True)
        bot.settle()
    transactions = transactions_of(statements)
    assert len(transactions) > 10  # the start's posts and the click's redraws among them
    for transaction in transactions:
        reads = [s for s in transaction if s.startswith("SELECT")]
        assert len(reads) == len(set(reads)), "\n".join(reads)


def store_projects(engine: Engine, count: int, clock: FakeClock) -> None:
    """Other teams' projects, each with a posted thread."""
    with engine.begin() as connection:
        for n in range(count):
            project_id = connection.execute(
                insert(Project).returning(col(Project.id)),
                {
                    "team_id": TEAM,
                    "channel_id": f"CSTORED{n:05d}",
                    "name": f"Stored {n}",
                    "checklist": TEMPLATE.name,
                    "started_by": "UBOB",
                    "started_at": clock(),
                    "status": ProjectStatus.ACTIVE,
                    "version": 2,
                },
            ).scalar_one()
            connection.execute(
                insert(PostedMessage),
                [
                    {
                        "project_id": project_id,
                        "kind": kind,
                        "phase_number": phase,
                        "ts": f"1.{n}{phase}",
                        "wanted_version": 2,
                        "rendered_version": 2,
                    }
                    for kind, phase in ((MessageKind.PARENT, 0), (MessageKind.PHASE, 1))
                ],
            )


def statements_per_tick(bot: RunningBot, clock: FakeClock, phase_one: dict[str, Any]) -> list[int]:
    item = TEMPLATE.phase(1).items[0].key
    counts = []
    for selected in (True, False):
        clock.advance(timedelta(seconds=2))
        with counting(bot.engine) as statements:
            bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], item, selected=selected, message=phase_one)
            bot.settle()
        counts.append(len(statements))
    return counts


def test_statements_per_tick_do_not_grow_with_the_projects_stored(
    bot_on_each_db: RunningBot, clock: FakeClock
) -> None:
    bot = bot_on_each_db
    phase_one = start(bot)
    statements_per_tick(bot, clock, phase_one)  # first ticks create the schedules
    few = statements_per_tick(bot, clock, phase_one)
    store_projects(bot.engine, 300, clock)
    many = statements_per_tick(bot, clock, phase_one)
    assert few == many
