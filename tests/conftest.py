from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fake_slack import FakeSlack
from tests.support import (
    FakeClock,
    RunningBot,
    create_postgres_database,
    drop_postgres_database,
    postgres_available,
)

PROJECT_CHANNEL = "C0PROJECT"
OTHER_CHANNEL = "C0OTHER"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    # The README's set-up: a public channel the bot was never invited to (it posts through
    # chat:write.public, and must join to read its own thread back).
    fake.add_channel(PROJECT_CHANNEL, "support-router", is_member=False)
    fake.add_channel(OTHER_CHANNEL, "another-team")
    fake.add_channel("C0SECRET", "secret-plans", is_private=True, is_member=False)
    for user in ("UALICE", "UBOB", "UCAROL"):
        fake.add_user(user, user[1:].lower())
    yield fake
    fake.stop()
    assert fake.scope_refusals == [], "the bot called a method whose scope manifest.yml does not declare"
    assert fake.warnings == [], "the bot did something Slack accepts but that is almost surely a bug"


def _require_postgres() -> None:
    if not postgres_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI")
        pytest.skip("PostgreSQL is not running at 127.0.0.1:5432")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database on each backend: a real SQLite file, and the machine's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'distill.db'}"
        return
    _require_postgres()
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    _require_postgres()
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'distill.db'}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bot(fake_slack: FakeSlack, sqlite_url: str, clock: FakeClock) -> Iterator[RunningBot]:
    running = RunningBot(fake_slack, sqlite_url, clock)
    yield running
    running.stop()


@pytest.fixture
def bot_on_each_db(fake_slack: FakeSlack, database_url: str, clock: FakeClock) -> Iterator[RunningBot]:
    running = RunningBot(fake_slack, database_url, clock)
    yield running
    running.stop()
