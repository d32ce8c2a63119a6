"""Several real bot processes on one PostgreSQL: every due nudge is posted exactly once,
even when one process is killed after Slack accepted a nudge and before it could record it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from bot.nudges import rules, schedules
from bot.nudges.timing import parse_working_days, parse_working_hours
from storage import queries
from storage.engine import make_engine, session_scope
from storage.migrate import upgrade
from storage.models import MessageKind, NudgeStatus, ProjectStatus
from tests.processes import BotProcess, bot_environment, free_port, wait_for
from tests.support import TEAM

PROJECTS = 40
# Around the clock, so the test does not depend on the hour or the weekday it runs at.
ALWAYS = {"WORKING_DAYS": "mon-sun", "WORKING_HOURS": "00:00-24:00"}
POLICY = schedules.NudgePolicy(
    hours=parse_working_hours(ALWAYS["WORKING_HOURS"], parse_working_days(ALWAYS["WORKING_DAYS"]))
)


def _seed_shipped_projects_due_now(database_url: str, fake: FakeSlack) -> list[str]:
    """Projects that shipped eight days ago: each has one drift check due since yesterday."""
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    upgrade(engine)
    channels = []
    for n in range(PROJECTS):
        channel = f"C{n:05d}"
        fake.add_channel(channel, f"project-{n}")
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
            schedules.on_progress(session, project, now - timedelta(days=8), POLICY)
        channels.append(channel)
    engine.dispose()
    return channels


def _posted_nudge_ids(fake: FakeSlack, channels: list[str]) -> Counter[int]:
    posted: Counter[int] = Counter()
    for channel in channels:
        for message in fake.messages(channel):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == "distill_nudge":
                posted[metadata["event_payload"]["nudge_id"]] += 1
    return posted


def test_replicas_send_each_due_nudge_exactly_once(
    tmp_path: Path, fake_slack: FakeSlack, postgres_url: str
) -> None:
    channels = _seed_shipped_projects_due_now(postgres_url, fake_slack)
    env = bot_environment(fake_slack, postgres_url, NUDGE_POLL_SECONDS="1", NUDGE_LEASE_SECONDS="3", **ALWAYS)

    # Replica A claims a batch and posts its first nudge; Slack stores it but A never hears back.
    answers = fake_slack.hold_answers("chat.postMessage")
    doomed = BotProcess(env, tmp_path, tmp_path / "a.log")
    wait_for(
        lambda: sum(_posted_nudge_ids(fake_slack, channels).values()) >= 1, what="replica A's first post"
    )
    doomed.kill()
    answers.set()

    replicas = [
        BotProcess({**env, "PORT": str(free_port())}, tmp_path, tmp_path / f"{name}.log") for name in "bc"
    ]
    try:
        engine = make_engine(postgres_url)

        def all_sent() -> bool:
            with Session(engine) as session:
                nudges = queries.list_nudges(session)
            return len(nudges) == PROJECTS and all(n.status == NudgeStatus.SENT for n in nudges)

        wait_for(all_sent, timeout=90, what="every nudge recorded as sent")
        with Session(engine) as session:
            nudges = queries.list_nudges(session)
        engine.dispose()
    finally:
        exit_codes = [replica.stop() for replica in replicas]

    assert exit_codes == [0, 0], "SIGTERM stops a replica cleanly"

    posted = _posted_nudge_ids(fake_slack, channels)
    assert sorted(posted) == sorted(n.id or 0 for n in nudges)
    assert set(posted.values()) == {1}, "a nudge was posted twice"
    assert {n.kind for n in nudges} == {rules.DRIFT}
    assert max(n.attempts for n in nudges) >= 2, "replica A's leased nudges were taken over"
    logs = (tmp_path / "b.log").read_text() + (tmp_path / "c.log").read_text()
    assert "Traceback" not in logs
