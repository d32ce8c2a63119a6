"""The bot's logging set-up."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.core.logging import configure_logging


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    queue = logging.getLogger("waitress.queue")
    queue_level = queue.level
    yield
    root.handlers[:], root.level = handlers, level
    queue.setLevel(queue_level)


@pytest.mark.usefixtures("restored_logging")
def test_waitress_does_not_log_a_line_for_every_request_that_waits_for_a_thread() -> None:
    configure_logging("INFO", "xoxb-secret")
    assert not logging.getLogger("waitress.queue").isEnabledFor(logging.WARNING)
    assert logging.getLogger("waitress").isEnabledFor(logging.WARNING)  # its other warnings stay
    assert logging.getLogger("bot").isEnabledFor(logging.INFO)
