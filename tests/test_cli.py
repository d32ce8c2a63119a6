"""The real `python -m bot`: settings errors, restarts on the same database, secrets in logs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.fake_slack import FakeSlack
from storage.engine import make_engine
from tests.checklist_flow import TEMPLATE, is_ticked, parent_of, replies_of
from tests.conftest import PROJECT_CHANNEL
from tests.processes import BotProcess, bot_environment, run_cli, wait_for
from tests.support import BOT_TOKEN, SIGNING_SECRET


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN: Field required"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token-not-a-bot-0123"}, "SLACK_BOT_TOKEN: must be a bot token"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET is required"),
        ({"PORT": "eighty"}, "PORT:"),
        ({"PORT": "70000"}, "PORT:"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN: must be an app-level token"),
        ({"DATABASE_URL": "mysql://nope"}, "DATABASE_URL:"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL:"),
        ({"WORKING_HOURS": "09:00-18:00+02:00"}, "WORKING_HOURS: use HH:MM-HH:MM"),
        ({"WORKING_DAYS": "mon-"}, "WORKING_DAYS: use day names"),
    ],
)
def test_a_bad_setting_stops_the_bot_with_one_clear_line(
    tmp_path: Path, change: dict[str, str | None], named: str
) -> None:
    env = bot_environment(None, f"sqlite:///{tmp_path / 'x.db'}")
    for key, value in change.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = run_cli([], env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("distill-bot: configuration error:") and named in lines[0]
    assert "Traceback" not in result.stderr
    for key, value in change.items():
        if value and ("TOKEN" in key or "SECRET" in key):
            assert value not in result.stderr, "a secret must never be printed"


def test_settings_can_come_from_a_dot_env_file(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = bot_environment(fake_slack, f"sqlite:///{tmp_path / 'x.db'}")
    dot_env = "".join(f"{key}={env.pop(key)}\n" for key in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"))
    (tmp_path / ".env").write_text(dot_env, encoding="utf-8")
    result = run_cli(["migrate"], env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_migrate_builds_the_schema_on_both_databases(tmp_path: Path, database_url: str) -> None:
    result = run_cli(["migrate"], bot_environment(None, database_url), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    engine = make_engine(database_url)
    assert {"project", "tick", "tick_event", "posted_message", "alembic_version"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


@pytest.fixture
def process_env(tmp_path: Path, fake_slack: FakeSlack) -> Iterator[dict[str, str]]:
    yield bot_environment(fake_slack, f"sqlite:///{tmp_path / 'distill.db'}", LOG_LEVEL="DEBUG")


def test_a_restarted_bot_keeps_every_tick(
    tmp_path: Path, fake_slack: FakeSlack, process_env: dict[str, str]
) -> None:
    first = BotProcess(process_env, tmp_path, tmp_path / "first.log", fake_slack)
    first.wait_healthy()
    assert first.slack is not None
    first.slack.command("start Restartable")
    phase_one = wait_for(lambda: fake_slack.messages(PROJECT_CHANNEL)[1:], what="phase 1")[0]
    ticked = [item.key for item in TEMPLATE.phase(1).items[:3]]

    def shows_tick(key: str) -> bool:
        return is_ticked(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), key)

    for key in ticked:
        first.slack.click(PROJECT_CHANNEL, phase_one["ts"], key, selected=True)
        wait_for(partial(shows_tick, key), what=key)
    first.kill()  # no goodbye: a crash, an OOM kill, a pulled plug

    second = BotProcess(process_env, tmp_path, tmp_path / "second.log", fake_slack)
    try:
        second.wait_healthy()
        assert second.slack is not None
        last = TEMPLATE.phase(1).items[3].key
        second.slack.click(PROJECT_CHANNEL, phase_one["ts"], last, selected=True, user="UBOB")
        wait_for(
            lambda: is_ticked(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), last), what="4th tick"
        )
        shown = fake_slack.message(PROJECT_CHANNEL, phase_one["ts"])
        assert all(is_ticked(shown, key) for key in ticked)
        # The parent is redrawn after the phase message, by the same job: wait for it too.
        wait_for(
            lambda: "4/32 items" in parent_of(fake_slack, PROJECT_CHANNEL)["blocks"][1]["text"]["text"],
            what="the parent at 4/32",
        )
        assert len(replies_of(fake_slack, PROJECT_CHANNEL)) == 1
    finally:
        second.stop()

    logs = (tmp_path / "first.log").read_text() + (tmp_path / "second.log").read_text()
    assert "chat.postMessage" in logs or "chat_postMessage" in logs or "POST" in logs  # DEBUG logging was on
    assert BOT_TOKEN not in logs and SIGNING_SECRET not in logs


def test_the_serving_bot_leaves_what_startup_built_out_of_garbage_collection(
    tmp_path: Path, fake_slack: FakeSlack, process_env: dict[str, str]
) -> None:
    # A full collection walking the startup objects stopped every thread for 70-90 ms under load
    # (the ack's 99th percentile, in `python -m benchmarks.perf`); a timing has no place here, so
    # this checks the freeze happened before the bot served, and that it took most of the heap.
    bot = BotProcess(process_env, tmp_path, tmp_path / "bot.log", fake_slack)
    try:
        bot.wait_healthy()
    finally:
        bot.stop()
    log = bot.log()
    frozen = re.search(r"(\d+) objects built at startup left out of garbage collection", log)
    assert frozen is not None, log
    assert int(frozen.group(1)) > 20_000
    assert frozen.start() < log.index("serving Slack requests")


def test_unreachable_slack_or_a_refused_token_is_one_clear_line(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    env = bot_environment(None, f"sqlite:///{tmp_path / 'x.db'}", SLACK_API_URL="http://127.0.0.1:9/api/")
    result = run_cli([], env, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1].startswith("distill-bot: cannot reach Slack at SLACK_API_URL")
    )

    env = bot_environment(fake_slack, f"sqlite:///{tmp_path / 'x.db'}", SLACK_BOT_TOKEN="xoxb-revoked-token")
    result = run_cli([], env, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1] == "distill-bot: Slack refused SLACK_BOT_TOKEN (invalid_auth)"
    )
    assert "xoxb-revoked-token" not in result.stderr


def test_a_taken_port_is_one_clear_line(tmp_path: Path, fake_slack: FakeSlack) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        env = bot_environment(fake_slack, f"sqlite:///{tmp_path / 'x.db'}", PORT=port)
        result = run_cli([], env, cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        result.stderr.strip().splitlines()[-1]
        == f"distill-bot: cannot listen on 127.0.0.1:{port} (Address already in use)"
    )
