"""Running the real `python -m bot` as a separate process, the way an admin runs it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from bot.fake_slack import FakeSlack
from storage.engine import make_engine
from storage.models import Project, ReceivedClick, Tick
from tests.support import BOT_TOKEN, SIGNING_SECRET, SlackSender, http


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bot_environment(fake: FakeSlack | None, database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLACK_", "DATABASE_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    if fake is not None:
        env["SLACK_API_URL"] = fake.api_url
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_for(condition: Callable[[], Any], timeout: float = 30, what: str = "condition") -> Any:
    """Poll for something another process does; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class BotProcess:
    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path, fake: FakeSlack | None = None) -> None:
        self.env = env
        self.log_path = log_path
        self.port = int(env["PORT"])
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot"], env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.slack = SlackSender(self.base_url + "/slack/events", fake) if fake else None

    def wait_healthy(self, timeout: float = 30) -> None:
        def healthy() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"bot exited with {self.process.returncode}:\n{self.log()}")
            try:
                return http("GET", self.base_url + "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_for(healthy, timeout, "the bot's /healthz")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode


def stored_ticks(url: str) -> set[tuple[str, str]]:
    """(channel, item) of every tick a bot process's database holds."""
    return _by_channel(url, select(Tick))


def stored_clicks(url: str) -> set[tuple[str, str]]:
    """(channel, item) of every ticking click received: stored before its ack, applied after."""
    return _by_channel(url, select(ReceivedClick).where(ReceivedClick.selected))


def _by_channel(url: str, rows: SelectOfScalar[Tick] | SelectOfScalar[ReceivedClick]) -> set[tuple[str, str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        channels = {p.id: p.channel_id for p in session.exec(select(Project)).all()}
        found = {(channels[row.project_id], row.item_key) for row in session.exec(rows).all()}
    engine.dispose()
    return found
