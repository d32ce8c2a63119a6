"""Faults, proven: a bot killed in the middle of a burst of ticks loses no acknowledged tick and
posts no phase twice; a database locked by another writer gets a clear "try again" before Slack's
3 seconds run out, and the same process goes on once it is free. (benchmarks/faults.py prints the
figures for these and for Slack outages and a PostgreSQL restart.)"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.clicks import DATABASE_BUSY
from bot.fake_slack import FakeSlack
from tests.checklist_flow import TEMPLATE, phase_messages
from tests.conftest import PROJECT_CHANNEL
from tests.processes import BotProcess, bot_environment, free_port, stored_clicks, stored_ticks, wait_for
from tests.support import RunningBot

PHASE_ONE = [item.key for item in TEMPLATE.phase(1).items]


def _phase_headers(fake: FakeSlack, channel: str) -> Counter[str]:
    return Counter(m["blocks"][0]["text"]["text"].split(":")[0] for m in phase_messages(fake, channel))


def test_a_sigkill_mid_burst_loses_no_acknowledged_tick_and_posts_no_phase_twice(
    tmp_path: Path, fake_slack: FakeSlack, sqlite_url: str
) -> None:
    channels = [f"C0KILL{n}" for n in range(4)]
    for channel in channels:
        fake_slack.add_channel(channel, channel.lower())
    env = bot_environment(fake_slack, sqlite_url)
    first = BotProcess(env, tmp_path, tmp_path / "first.log", fake_slack)
    first.wait_healthy()
    assert first.slack is not None
    for channel in channels:
        assert first.slack.command("start Killed", channel=channel).status == 200
    wait_for(lambda: all(_has_phase_one(fake_slack, c) for c in channels), what="every Phase 1 message")

    clicks = [(channel, key) for key in PHASE_ONE for channel in channels]
    acknowledged: set[tuple[str, str]] = set()
    lock = threading.Lock()

    def click(bot: BotProcess, target: tuple[str, str]) -> int:
        assert bot.slack is not None
        message = phase_messages(fake_slack, target[0])[0]
        return bot.slack.click(target[0], message["ts"], target[1], selected=True, message=message).status

    def send(target: tuple[str, str]) -> None:
        try:
            status = click(first, target)
        except OSError:  # the process is gone: no answer, as Slack would see it
            return
        with lock:
            if status == 200:
                acknowledged.add(target)
                if len(acknowledged) == len(clicks) // 2:
                    first.process.kill()  # SIGKILL in the middle of the burst

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(send, clicks))
    first.process.wait(timeout=10)
    assert len(acknowledged) >= len(clicks) // 2
    assert acknowledged <= stored_clicks(sqlite_url), "an acknowledged tick was lost"

    second = BotProcess({**env, "PORT": str(free_port())}, tmp_path, tmp_path / "second.log", fake_slack)
    try:
        second.wait_healthy()
        for target in sorted(set(clicks) - acknowledged):  # those users saw no answer, and click again
            assert click(second, target) == 200
        wait_for(
            lambda: (
                stored_ticks(sqlite_url) >= set(clicks)
                and all(_phase_headers(fake_slack, c)["Phase 2 of 7"] for c in channels)
            ),
            timeout=60,
            what="every thread at Phase 2",
        )
    finally:
        assert second.stop() == 0
    for channel in channels:
        assert set(_phase_headers(fake_slack, channel).values()) == {1}, "a phase was posted twice"
    assert "Traceback" not in second.log()


def _has_phase_one(fake: FakeSlack, channel: str) -> bool:
    try:
        return bool(phase_messages(fake, channel))
    except AssertionError:  # the parent is not there yet
        return False


def test_a_locked_sqlite_file_gets_a_clear_try_again_and_the_bot_goes_on(
    bot: RunningBot, fake_slack: FakeSlack, sqlite_url: str
) -> None:
    bot.slack.command("start Locked")
    bot.settle()
    phase_one = phase_messages(fake_slack, PROJECT_CHANNEL)[0]
    other_writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None, timeout=1)
    other_writer.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        result = bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], PHASE_ONE[0], selected=True)
        bot.settle()
    finally:
        other_writer.execute("COMMIT")
        other_writer.close()
    assert result.status == 200  # acknowledged: within the 3 seconds, since the bot waits 2 at most
    assert fake_slack.responses[-1].body["text"] == DATABASE_BUSY
    assert stored_ticks(sqlite_url) == set()

    # The lock is gone: the same process stores the click made again.
    assert bot.slack.click(PROJECT_CHANNEL, phase_one["ts"], PHASE_ONE[0], selected=True).status == 200
    bot.settle()
    assert stored_ticks(sqlite_url) == {(PROJECT_CHANNEL, PHASE_ONE[0])}
