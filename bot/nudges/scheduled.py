"""APScheduler drives the clock; the database decides what is due and who sends it.

Each replica keeps its own in-memory job store (APScheduler's stores must not be shared
between processes): the one job only asks the database for due work, so a restart loses
nothing and several replicas never double-send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.nudges.service import NudgeService

log = logging.getLogger(__name__)

JOB_ID = "deliver-nudges"


def start_nudge_scheduler(
    service: NudgeService, poll_seconds: int, *also: Callable[[], object]
) -> BackgroundScheduler:
    """Start the one periodic job: due nudges, and `also` (expiring waivers, the Slack repair
    pass) on the same beat."""
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        _run,
        IntervalTrigger(seconds=poll_seconds, timezone=UTC),
        args=[service, also],
        id=JOB_ID,
        replace_existing=True,
        coalesce=True,  # a pass that overran is not made up several times over
        max_instances=1,
        misfire_grace_time=None,  # late is fine: the database knows what is due
        next_run_time=datetime.now(UTC),
    )
    scheduler.start()
    return scheduler


def _run(service: NudgeService, also: tuple[Callable[[], object], ...]) -> None:
    for job in also:
        try:
            job()
        except Exception:
            log.exception("periodic %s failed; the next pass retries", _name_of(job))
    try:
        sent = service.run_due()
    except Exception:
        log.exception("nudge pass failed; the next pass retries")
        return
    if sent:
        log.info("sent %d nudge(s)", sent)


def _name_of(job: Callable[[], object]) -> str:
    named = getattr(job, "func", job)  # a functools.partial names its function
    return str(getattr(named, "__name__", "job"))
