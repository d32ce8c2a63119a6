"""Faults, proven: the bot under SIGKILL, a failing Slack, a restarted PostgreSQL and a locked
SQLite file. Each scenario runs the real bot process (`python -m bot`) against the fake Slack on
loopback, provokes the fault, and prints what survived it. Asserts nothing; prints figures.

    .venv/bin/python -m benchmarks.faults kill-ticks [--database-url URL]
    .venv/bin/python -m benchmarks.faults kill-nudges [--database-url URL]
    .venv/bin/python -m benchmarks.faults slack-outage
    .venv/bin/python -m benchmarks.faults sqlite-lock
    .venv/bin/python -m benchmarks.faults postgres-restart   # restarts the machine's PostgreSQL!

`postgres-restart` restarts the whole local cluster (other databases on it see their
connections dropped): run it on a machine of your own, never from the test suite.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from bot.checklist.template import load_template
from bot.fake_slack import FakeSlack
from bot.nudges import schedules
from bot.nudges.timing import parse_working_days, parse_working_hours
from storage import queries
from storage.engine import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import (
    MessageKind,
    Nudge,
    NudgeStatus,
    PostedMessage,
    ProjectStatus,
)
from tests.checklist_flow import parent_of, phase_messages
from tests.processes import BotProcess, bot_environment, free_port, stored_clicks, stored_ticks, wait_for
from tests.support import TEAM, HttpResult, create_postgres_database, drop_postgres_database

TEMPLATE = load_template()
PHASE_ONE = [item.key for item in TEMPLATE.phase(1).items]
ALWAYS = {"WORKING_DAYS": "mon-sun", "WORKING_HOURS": "00:00-24:00"}
_HEADER = re.compile(r"^Phase (\d+) ")


# --- shared set-up -----------------------------------------------------------------------------


@contextmanager
def database(url: str | None, folder: Path, *, postgres: bool = False) -> Iterator[str]:
    if url:
        yield url
    elif postgres:
        created = create_postgres_database()
        try:
            yield created
        finally:
            drop_postgres_database(created)
    else:
        yield f"sqlite:///{folder / 'faults.db'}"


def channels_for(fake: FakeSlack, count: int) -> list[str]:
    channels = [f"C{n:05d}" for n in range(count)]
    for channel in channels:
        fake.add_channel(channel, f"project-{channel.lower()}")
    for user in ("UALICE", "UBOB"):
        fake.add_user(user, user[1:].lower())
    return channels


def start_projects(bot: BotProcess, fake: FakeSlack, channels: list[str]) -> None:
    assert bot.slack is not None
    for channel in channels:
        assert bot.slack.command("start Faults", channel=channel).status == 200
    wait_for(lambda: all(_phase_count(fake, c) >= 1 for c in channels), 60, "every Phase 1 message")


def _phase_count(fake: FakeSlack, channel: str) -> int:
    try:
        return len(phase_messages(fake, channel))
    except AssertionError:  # no parent yet
        return 0


def posted_phases(fake: FakeSlack, channel: str) -> Counter[int]:
    """How many times each phase's message is in the thread."""
    counts: Counter[int] = Counter()
    for message in phase_messages(fake, channel):
        match = _HEADER.match(message["blocks"][0]["text"]["text"])
        if match:
            counts[int(match.group(1))] += 1
    return counts


def lagging_messages(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        count = len(
            [
                m
                for m in session.exec(select(PostedMessage)).all()
                if m.ts is None or m.rendered_version < m.wanted_version
            ]
        )
    engine.dispose()
    return count


def click(bot: BotProcess, fake: FakeSlack, channel: str, key: str, user: str = "UALICE") -> HttpResult:
    assert bot.slack is not None
    phase_one = phase_messages(fake, channel)[0]
    return bot.slack.click(channel, phase_one["ts"], key, selected=True, user=user, message=phase_one)


def ms(samples: list[float]) -> str:
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms · "
        f"max {ordered[-1] * 1000:.0f} ms (n={len(ordered)})"
    )


def settle(condition: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `condition` holds, or None when it did not within `timeout`."""
    started = time.monotonic()
    try:
        wait_for(condition, timeout)
    except AssertionError:
        return None
    return time.monotonic() - started


# --- SIGKILL in the middle of a burst of ticks -------------------------------------------------


def kill_ticks(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        folder = Path(tmp)
        with database(args.database_url, folder) as url:
            channels = channels_for(fake, args.projects)
            env = bot_environment(fake, url, **ALWAYS)
            first = BotProcess(env, folder, folder / "first.log", fake)
            first.wait_healthy()
            start_projects(first, fake, channels)
            clicks = [(channel, key) for channel in channels for key in PHASE_ONE]
            random.Random(7).shuffle(clicks)
            kill_after = len(clicks) // 2
            acked: set[tuple[str, str]] = set()
            refused: list[tuple[str, str]] = []
            lock = threading.Lock()

            def send(target: tuple[str, str]) -> None:
                try:
                    result = click(first, fake, *target)
                except OSError:
                    with lock:
                        refused.append(target)
                    return
                with lock:
                    if result.status == 200:
                        acked.add(target)
                        if len(acked) == kill_after:
                            first.process.kill()  # SIGKILL: no clean-up, mid-burst
                    else:
                        refused.append(target)

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(send, clicks))
            first.process.wait(timeout=10)
            at_kill = stored_clicks(url)

            second = BotProcess({**env, "PORT": str(free_port())}, folder, folder / "second.log", fake)
            second.wait_healthy()
            # The users whose clicks got no answer click again; acknowledged clicks are not repeated.
            for target in sorted(set(clicks) - acked):
                click(second, fake, *target)
            everything = set(clicks)
            caught_up = settle(
                lambda: (
                    stored_ticks(url) >= everything
                    and all(posted_phases(fake, c)[2] >= 1 for c in channels)
                    and lagging_messages(url) == 0
                ),
                60,
            )
            second.stop()
            lost = acked - at_kill
            doubled = sum(
                max(count - 1, 0) for channel in channels for count in posted_phases(fake, channel).values()
            )
            parents = sum(1 for channel in channels for _ in [parent_of(fake, channel)])
            print(f"kill-ticks on {url.split(':')[0]}: {len(clicks)} ticks in {len(channels)} projects")
            print(f"  acknowledged before SIGKILL  {len(acked)}  (no answer: {len(refused)})")
            print(f"  acknowledged but not stored  {len(lost)}  {sorted(lost)[:5] if lost else ''}")
            print(
                f"  phase messages posted twice  {doubled}   parents: {parents} for {len(channels)} projects"
            )
            print(
                "  after restart, all ticks stored and every thread at Phase 2: "
                + (f"{caught_up:.1f} s" if caught_up is not None else "NOT within 60 s")
            )
            print(f"  tracebacks in the second run's log: {second.log().count('Traceback')}")


# --- SIGKILL in the middle of a nudge run ------------------------------------------------------


def _seed_due_nudges(url: str, fake: FakeSlack, channels: list[str]) -> None:
    now = datetime.now(UTC)
    policy = schedules.NudgePolicy(
        hours=parse_working_hours(ALWAYS["WORKING_HOURS"], parse_working_days(ALWAYS["WORKING_DAYS"]))
    )
    engine = make_engine(url)
    upgrade(engine)
    for n, channel in enumerate(channels):
        parent_ts = fake.add_message(channel, "Distillation checklist", user="UBOT")
        with session_scope(engine) as session:
            project = queries.create_project(
                session,
                team_id=TEAM,
                channel_id=channel,
                name=f"Project {n}",
                checklist="default",
                started_by="UALICE",
                now=now - timedelta(days=40),
            )
            project.status, project.current_phase = ProjectStatus.SHIPPED, 7
            project.shipped_at = now - timedelta(days=8)
            queries.add_message(session, project, kind=MessageKind.PARENT, ts=parent_ts)
            schedules.on_progress(session, project, now - timedelta(days=8), policy)
    engine.dispose()


def _nudges_posted(fake: FakeSlack, channels: list[str]) -> Counter[int]:
    posted: Counter[int] = Counter()
    for channel in channels:
        for message in fake.messages(channel):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == "distill_nudge":
                posted[metadata["event_payload"]["nudge_id"]] += 1
    return posted


def kill_nudges(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        folder = Path(tmp)
        with database(args.database_url, folder) as url:
            channels = channels_for(fake, args.nudges)
            _seed_due_nudges(url, fake, channels)
            fake.delay("chat.postMessage", 0.05)  # a realistic Slack, so the kill lands mid-run
            env = bot_environment(fake, url, NUDGE_POLL_SECONDS="1", NUDGE_LEASE_SECONDS="5", **ALWAYS)
            first = BotProcess(env, folder, folder / "first.log", fake)
            wait_for(
                lambda: sum(_nudges_posted(fake, channels).values()) >= len(channels) // 3, 60, "a third"
            )
            first.process.kill()
            first.process.wait(timeout=10)
            posted_at_kill = sum(_nudges_posted(fake, channels).values())
            started = time.monotonic()
            second = BotProcess({**env, "PORT": str(free_port())}, folder, folder / "second.log", fake)
            engine = make_engine(url)

            def all_sent() -> bool:
                with Session(engine) as session:
                    nudges = session.exec(select(Nudge)).all()
                return len(nudges) == len(channels) and all(n.status == NudgeStatus.SENT for n in nudges)

            done = settle(all_sent, 90)
            engine.dispose()
            second.stop()
            posted = _nudges_posted(fake, channels)
            print(f"kill-nudges on {url.split(':')[0]}: {len(channels)} due nudges")
            print(f"  posted before SIGKILL        {posted_at_kill}")
            print(
                "  all recorded as sent after restart: "
                + (
                    f"{done:.1f} s (lease {env['NUDGE_LEASE_SECONDS']} s)"
                    if done is not None
                    else "NOT within 90 s"
                )
            )
            print(f"  nudges in Slack              {len(posted)} of {len(channels)}")
            print(f"  nudges posted twice          {sum(1 for c in posted.values() if c > 1)}")
            print(f"  tracebacks in the second run's log: {second.log().count('Traceback')}")
            _ = time.monotonic() - started


# --- Slack failing for a while, then recovering ------------------------------------------------


def slack_outage(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        folder = Path(tmp)
        with database(args.database_url, folder) as url:
            channels = channels_for(fake, args.projects)
            env = bot_environment(fake, url, NUDGE_POLL_SECONDS="5", **ALWAYS)
            bot = BotProcess(env, folder, folder / "bot.log", fake)
            bot.wait_healthy()
            start_projects(bot, fake, channels)
            # Slack breaks: 5xx for the first wave of calls, then 429s with Retry-After, then recovers.
            for method in ("chat.postMessage", "chat.update"):
                fake.fail(method, status=503, retry_after=None, times=args.failures)
                fake.fail(method, status=429, retry_after=1, times=args.failures)
            fake.fail("response_url", status=503, retry_after=None, times=args.failures // 2)
            clicks = [(channel, key) for channel in channels for key in PHASE_ONE]
            acks: list[float] = []
            statuses: Counter[int] = Counter()
            lock = threading.Lock()

            def send(target: tuple[str, str]) -> None:
                started = time.monotonic()
                result = click(bot, fake, *target)
                with lock:
                    acks.append(time.monotonic() - started)
                    statuses[result.status] += 1

            outage_started = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(send, clicks))
            everything = set(clicks)
            caught_up = settle(
                lambda: (
                    stored_ticks(url) >= everything
                    and all(posted_phases(fake, c)[2] >= 1 for c in channels)
                    and lagging_messages(url) == 0
                ),
                120,
            )
            failed_calls = sum(1 for call in fake.calls if call.method.startswith("chat.") and not call.ok)
            bot.stop()
            print(
                f"slack-outage: {len(clicks)} ticks while Slack answers 503 then 429 "
                f"({failed_calls} failed calls)"
            )
            print(f"  HTTP answers to the clicks   {dict(statuses)}")
            print(f"  ack time during the outage   {ms(acks)}")
            print(
                f"  ticks stored                 {len(stored_ticks(url) & everything)} of {len(everything)}"
            )
            print(
                "  every thread caught up (Phase 2 posted, no message behind the database): "
                + (
                    f"{caught_up:.1f} s after the burst ({time.monotonic() - outage_started:.1f} s in all)"
                    if caught_up is not None
                    else "NOT within 120 s"
                )
            )
            doubled = sum(max(n - 1, 0) for c in channels for n in posted_phases(fake, c).values())
            print(f"  phase messages posted twice  {doubled}")


# --- a SQLite file locked by another writer ----------------------------------------------------


def sqlite_lock(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        folder = Path(tmp)
        path = folder / "locked.db"
        url = f"sqlite:///{path}"
        channels = channels_for(fake, 2)
        env = bot_environment(fake, url, **ALWAYS)
        bot = BotProcess(env, folder, folder / "bot.log", fake)
        bot.wait_healthy()
        start_projects(bot, fake, channels[:1])
        assert bot.slack is not None
        # Another program takes the write lock and keeps it for a few seconds.
        other = sqlite3.connect(path, isolation_level=None, timeout=1)
        other.execute("BEGIN IMMEDIATE")
        locked_at = time.monotonic()
        timings: dict[str, float] = {}
        answers: dict[str, HttpResult] = {}

        def timed(name: str, call: Callable[[], HttpResult]) -> None:
            started = time.monotonic()
            answers[name] = call()
            timings[name] = time.monotonic() - started

        requests = [
            threading.Thread(
                target=timed, args=("tick", lambda: click(bot, fake, channels[0], PHASE_ONE[0]))
            ),
            threading.Thread(
                target=timed,
                args=("start", lambda: bot.slack.command("start Locked", channel=channels[1])),  # type: ignore[union-attr]
            ),
            threading.Thread(
                target=timed, args=("status", lambda: bot.slack.command("status", channel=channels[0]))
            ),  # type: ignore[union-attr]
        ]
        for request in requests:
            request.start()
        time.sleep(args.lock_seconds)  # the other writer's hold: the fault itself, not a wait for the bot
        other.execute("COMMIT")
        other.close()
        held = time.monotonic() - locked_at
        for request in requests:
            request.join(timeout=60)
        replies_during = [r.body.get("text", "") for r in fake.responses]
        started_after = settle(lambda: _phase_count(fake, channels[1]) >= 1, 60)
        tick_stored = (channels[0], PHASE_ONE[0]) in stored_ticks(url)
        after = click(bot, fake, channels[0], PHASE_ONE[1])
        stored_after = settle(lambda: (channels[0], PHASE_ONE[1]) in stored_ticks(url), 30)
        bot.stop()
        print(f"sqlite-lock: another writer held the write lock for {held:.1f} s")
        for name in ("tick", "start", "status"):
            print(f"  {name:<7} answered HTTP {answers[name].status} in {timings[name] * 1000:.0f} ms")
        print(f"  what the users were told: {[text[:90] for text in replies_during]}")
        print(f"  the tick made during the lock is stored: {tick_stored} (its user was told either way)")
        print(
            "  the start (stored after its ack) went through: "
            + (f"{started_after:.1f} s after release" if started_after is not None else "NO")
        )
        print(
            f"  a new tick afterwards, same process: HTTP {after.status}, stored "
            + (f"in {stored_after:.2f} s" if stored_after is not None else "NO")
        )
        print(f"  tracebacks in the log: {bot.log().count('Traceback')}")


# --- PostgreSQL restarted under the running bot ------------------------------------------------


def postgres_restart(args: argparse.Namespace) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    with tempfile.TemporaryDirectory() as tmp, FakeSlack() as fake:
        folder = Path(tmp)
        with database(args.database_url, folder, postgres=True) as url:
            channels = channels_for(fake, args.projects)
            env = bot_environment(fake, url, **ALWAYS)
            bot = BotProcess(env, folder, folder / "bot.log", fake)
            bot.wait_healthy()
            start_projects(bot, fake, channels)
            clicks = [(channel, key) for channel in channels for key in PHASE_ONE]
            statuses: Counter[int] = Counter()
            acks: list[float] = []
            stop = threading.Event()
            restart_window: list[float] = []

            def restart() -> None:
                started = time.monotonic()
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                    check=True,
                    capture_output=True,
                )
                restart_window.append(time.monotonic() - started)

            def send(target: tuple[str, str]) -> None:
                started = time.monotonic()
                try:
                    result = click(bot, fake, *target)
                    statuses[result.status] += 1
                except OSError:
                    statuses[0] += 1
                acks.append(time.monotonic() - started)

            restarter = threading.Thread(target=restart)
            with ThreadPoolExecutor(4) as pool:
                futures = []
                for n, target in enumerate(clicks):
                    if n == len(clicks) // 3:
                        restarter.start()
                    futures.append(pool.submit(send, target))
                    time.sleep(0.02)  # a steady trickle of clicks across the restart
                for future in futures:
                    future.result()
            restarter.join()
            stop.set()
            health = [bot.slack and 0]
            stored = stored_ticks(url)
            # The users who were told to try again do so.
            apologies = [r.body.get("text", "") for r in fake.responses]
            for target in sorted(set(clicks) - stored):
                click(bot, fake, *target)
            everything = set(clicks)
            caught_up = settle(
                lambda: (
                    stored_ticks(url) >= everything
                    and all(posted_phases(fake, c)[2] >= 1 for c in channels)
                    and lagging_messages(url) == 0
                ),
                60,
            )
            bot.stop()
            print(
                f"postgres-restart: {len(clicks)} ticks, PostgreSQL restarted after a third "
                f"({restart_window[0]:.1f} s)"
            )
            print(f"  HTTP answers                 {dict(statuses)}")
            print(f"  ack time across the restart  {ms(acks)}")
            print(f"  stored on the first try      {len(stored & everything)} of {len(everything)}")
            print(f"  what the others were told    {Counter(text[:80] for text in apologies).most_common(3)}")
            print(
                "  after clicking again, all stored and every thread at Phase 2: "
                + (f"{caught_up:.1f} s" if caught_up is not None else "NOT within 60 s")
            )
            print(
                f"  the same process throughout: {bot.process.returncode == 0}; "
                f"tracebacks in log: {bot.log().count('Traceback')}"
            )
            _ = health


SCENARIOS: dict[str, Callable[[argparse.Namespace], None]] = {
    "kill-ticks": kill_ticks,
    "kill-nudges": kill_nudges,
    "slack-outage": slack_outage,
    "sqlite-lock": sqlite_lock,
    "postgres-restart": postgres_restart,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument(
        "--database-url", default=None, help="default: a fresh SQLite file (PostgreSQL for postgres-restart)"
    )
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--nudges", type=int, default=60)
    parser.add_argument(
        "--failures", type=int, default=20, help="slack-outage: failed calls per method and kind"
    )
    parser.add_argument("--lock-seconds", type=float, default=4.0)
    args = parser.parse_args()
    SCENARIOS[args.scenario](args)


if __name__ == "__main__":
    main()
