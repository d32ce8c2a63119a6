"""Test harness: a clock, a drainable listener pool, Slack-signed requests, a running bot."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot.app import DistillBot, build_bot, make_web_client
from bot.core.config import Settings
from bot.fake_slack import FakeSlack, payloads
from bot.fake_slack.payloads import command_payload
from bot.nudges.pacing import PostingPace
from bot.server import HttpServer, make_wsgi_app
from storage.engine import make_engine
from storage.migrate import upgrade

SIGNING_SECRET = "test-signing-secret-0123456789"
BOT_TOKEN = "xoxb-fake-bot-token"
APP_TOKEN = "xapp-fake-app-token"
TEAM = "T0001"
POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


class DrainableExecutor(ThreadPoolExecutor):
    """Bolt's listener pool, countable: tests wait until every listener has finished."""

    def __init__(self) -> None:
        super().__init__(max_workers=8, thread_name_prefix="listener")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    @property
    def idle(self) -> bool:
        with self._idle:
            return self._pending == 0

    def wait_idle(self, timeout: float = 30) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                raise TimeoutError(f"{self._pending} listener(s) still running after {timeout}s")


class VirtualSeconds:
    """A monotonic clock for pacing that moves only when something waits on it (instantly)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class ManualTimers:
    """Deferred work (paced redraws) held until the test lets time pass: settle() runs it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: list[Callable[[], None]] = []
        self.delays: list[float] = []

    def __call__(self, delay_seconds: float, work: Callable[[], None]) -> None:
        with self._lock:
            self._due.append(work)
            self.delays.append(delay_seconds)

    def take(self) -> list[Callable[[], None]]:
        with self._lock:
            due, self._due = self._due, []
        return due


@dataclass
class HttpResult:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def sign(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    return payloads.sign(body, timestamp, secret)


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> HttpResult:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpResult(response.status, response.read().decode(), dict(response.headers))
    except urllib.error.HTTPError as error:
        return HttpResult(error.code, error.read().decode(), dict(error.headers))


class SlackSender:
    """Sends requests to the bot's endpoint the way Slack does: form-encoded and signed."""

    def __init__(self, events_url: str, fake: FakeSlack) -> None:
        self.events_url = events_url
        self.fake = fake

    def post(
        self,
        body: bytes,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        extra_headers: dict[str, str] | None = None,
    ) -> HttpResult:
        timestamp = int(time.time()) if timestamp is None else timestamp
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(timestamp),
            "X-Slack-Signature": sign(body, timestamp, secret),
            **(extra_headers or {}),
        }
        return http("POST", self.events_url, body, headers)

    def command(
        self, text: str, *, channel: str = "C0PROJECT", user: str = "UALICE", team: str = TEAM, **extra: Any
    ) -> HttpResult:
        return self.post(
            urllib.parse.urlencode(command_payload(self.fake, text, channel, user, team)).encode(), **extra
        )

    def interact(self, payload: dict[str, Any], **extra: Any) -> HttpResult:
        return self.post(urllib.parse.urlencode({"payload": json.dumps(payload)}).encode(), **extra)

    def click(
        self,
        channel: str,
        message_ts: str,
        item_key: str,
        *,
        selected: bool,
        user: str = "UALICE",
        team: str = TEAM,
        message: dict[str, Any] | None = None,
        **extra: Any,
    ) -> HttpResult:
        """Tick or untick an item on a message as the fake Slack holds it (or a stale copy)."""
        message = message or self.fake.message(channel, message_ts)
        return self.interact(
            click_payload(self.fake, message, channel, item_key, selected, user, team), **extra
        )


def click_payload(
    fake: FakeSlack,
    message: dict[str, Any],
    channel: str,
    item_key: str,
    selected: bool,
    user: str,
    team: str,
) -> dict[str, Any]:
    """A tick (or untick) of one item's checkbox on `message` as the user's client shows it."""
    block = next(
        block
        for block in message["blocks"]
        if (block.get("accessory") or {}).get("action_id") == f"item:{item_key}"
    )
    checkboxes = block["accessory"]
    return payloads.block_actions_payload(
        fake,
        action=payloads.checkbox_action(block, checkboxes, [checkboxes["options"][0]] if selected else []),
        channel=channel,
        user=user,
        team=team,
        message=message,
        message_ts=message["ts"],
        thread_ts=message.get("thread_ts"),
    )


def settings_for(fake: FakeSlack, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.api_url,
        "database_url": database_url,
        "host": "127.0.0.1",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class RunningBot:
    """The bot serving HTTP on loopback in this process, with an injected clock."""

    def __init__(
        self,
        fake: FakeSlack,
        database_url: str,
        clock: FakeClock,
        *,
        shared_modal_path: bool = False,
        **settings: Any,
    ) -> None:
        """`shared_modal_path` opens modals the pre-issue-8 way (the background pool and the
        client that sleeps on 429s), for the benchmark's before/after."""
        self.clock = clock
        self.executor = DrainableExecutor()
        self.background = DrainableExecutor()
        self.timers = ManualTimers()
        self.pace_clock = VirtualSeconds()
        self.modals = DrainableExecutor()
        self.engine = make_engine(database_url)
        upgrade(self.engine)
        bot_settings = settings_for(fake, database_url, **settings)
        shared_client = make_web_client(bot_settings) if shared_modal_path else None
        self.bot: DistillBot = build_bot(
            bot_settings,
            engine=self.engine,
            clock=clock,
            listener_executor=self.executor,
            background=self.background,
            later=self.timers,
            posting_pace=PostingPace(60, clock=self.pace_clock, sleep=self.pace_clock.sleep),
            client=shared_client,
            modal_executor=self.background if shared_modal_path else self.modals,
            views_client=shared_client,
        )
        self.server = HttpServer(
            make_wsgi_app(self.bot.app, self.engine, SIGNING_SECRET, requests=self.bot.requests),
            "127.0.0.1",
            0,
        )
        self._thread = threading.Thread(target=self.server.serve_forever, name="bot-http", daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.port}"
        self.slack = SlackSender(self.base_url + "/slack/events", fake)

    def settle(self) -> None:
        """Wait until every listener, and the work it handed on after ack(), has finished;
        paced redraws waiting for their interval run now, as if that time had passed."""
        pools = (self.executor, self.background, self.modals)
        while True:
            for pool in pools:
                pool.wait_idle()
            for work in self.timers.take():
                self.background.submit(work)
            if all(pool.idle for pool in pools):
                return

    def run_nudges(self) -> int:
        """One pass of the job APScheduler runs every NUDGE_POLL_SECONDS, at the injected time."""
        self.settle()
        return self.bot.nudges.run_due()

    def stop(self) -> None:
        self.server.shutdown()
        self._thread.join(timeout=10)
        self.executor.shutdown(wait=True)
        self.background.shutdown(wait=True)
        self.modals.shutdown(wait=True)
        self.bot.clicks.close()
        self.engine.dispose()


def create_postgres_database() -> str:
    """A fresh, empty PostgreSQL database; returns its URL."""
    name = "distill_test_" + uuid.uuid4().hex[:12]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def other_postgres_sessions(url: str, condition: str = "TRUE") -> int:
    """Sessions open on the database at `url`, other than the one asking, that match `condition`
    (an SQL condition on pg_stat_activity)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as connection:
        count = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                f" WHERE datname = current_database() AND pid <> pg_backend_pid() AND ({condition})"
            )
        ).scalar_one()
    engine.dispose()
    return int(count)


def postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


class ErrorRecords(logging.Handler):
    """What was logged at ERROR or above while attached (see `recording_errors`)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def pop(self) -> list[str]:
        """The messages recorded since the last pop."""
        records, self.records = self.records, []
        return [record.getMessage() for record in records]


@contextmanager
def recording_errors(logger: str = "") -> Iterator[ErrorRecords]:
    """Errors logged by `logger` (by default every logger) while the block runs."""
    handler = ErrorRecords()
    logging.getLogger(logger).addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger(logger).removeHandler(handler)
