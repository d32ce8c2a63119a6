"""Build the Bolt app and everything it needs."""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from sqlalchemy import Engine

from bot import listeners
from bot.background import BoundedExecutor, RequestsFirst
from bot.checklist.template import Template, load_template
from bot.clicks import ClickInbox
from bot.core.clock import Clock, utc_now
from bot.core.config import Settings
from bot.core.later import Later, Timers
from bot.governance import Governance
from bot.home import HomeTab
from bot.lifecycle import Lifecycle
from bot.listeners.common import UNEXPECTED
from bot.listeners.forms import answer_in_form
from bot.nudges.pacing import PostingPace
from bot.nudges.schedules import NudgePolicy
from bot.nudges.service import NudgeService
from bot.record import ProjectRecord
from bot.workflow import Workflow
from storage.engine import make_engine

log = logging.getLogger(__name__)

# Threads for the work that follows an ack (database and Slack calls); Slack's rate limits,
# not these threads, bound how fast one workspace can be served.
BACKGROUND_THREADS = 16
# Threads that only open modals, so a click's form never waits behind the background's work:
# a views.open is one short call, and a trigger_id is dead 3 seconds after the click anyway.
MODAL_THREADS = 4
# While Slack's requests are being answered, the jobs they handed on start at most this often
# (each redraws a message or two, a few tens of milliseconds of the interpreter's time).
BUSY_JOB_STARTS_PER_SECOND = 1
VIEWS_TIMEOUT_SECONDS = 2.5


@dataclass
class DistillBot:
    app: App
    workflow: Workflow
    clicks: ClickInbox
    nudges: NudgeService
    governance: Governance
    engine: Engine
    lifecycle: Lifecycle
    record: ProjectRecord
    home: HomeTab
    requests: RequestsFirst  # the server counts the requests it answers; the jobs wait their turn


# Posting is the one call whose blind repeat does harm: Slack has no idempotency key, so a
# post sent again after a lost answer is a second message. SlackSync.post_once handles those.
POST_METHOD = "chat.postMessage"


class _ExceptPosts(RetryHandler):
    """Another handler's retries, for every method but posts."""

    def __init__(self, inner: RetryHandler) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").endswith("/" + POST_METHOD):
            return False
        return self.inner._can_retry(state=state, request=request, response=response, error=error)


def make_web_client(settings: Settings) -> WebClient:
    """A Web API client that rides out rate limits, 5xx answers and dropped connections; posts
    are retried only when Slack said it stored nothing (429)."""
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=settings.slack_timeout_seconds,  # type: ignore[arg-type]  # urllib takes float seconds
        retry_handlers=[
            _ExceptPosts(ConnectionErrorRetryHandler(max_retry_count=2)),
            RateLimitErrorRetryHandler(max_retry_count=3),
            _ExceptPosts(ServerErrorRetryHandler(max_retry_count=2)),
        ],
    )


def make_views_client(settings: Settings) -> WebClient:
    """The client that opens modals. A trigger_id works once and only for 3 seconds after the
    click, so this one never waits: no sleeping through a 429's Retry-After (the user is told
    to click again), no retries, and a timeout within the trigger's life."""
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=min(settings.slack_timeout_seconds, VIEWS_TIMEOUT_SECONDS),  # type: ignore[arg-type]
        retry_handlers=[],
    )


def make_bolt_app(
    client: WebClient,
    signing_secret: str | None,
    *,
    socket_mode: bool = False,
    listener_executor: Executor | None = None,
) -> App:
    """The Bolt app as the bot configures it (the benchmark serves a bare one built the same way)."""
    return App(
        client=client,
        signing_secret=signing_secret,
        # server.py checks every HTTP request's signature before Bolt reads it (and hands Bolt
        # slash commands re-encoded); Socket Mode requests come over an authenticated socket.
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        # Listeners ack() and hand their work to a pool, so running them before the response
        # costs nothing; Bolt's default would answer only after polling for the ack (10 ms steps).
        process_before_response=True,
        listener_executor=listener_executor,
    )


def build_bot(
    settings: Settings,
    *,
    engine: Engine | None = None,
    template: Template | None = None,
    clock: Clock = utc_now,
    listener_executor: Executor | None = None,
    background: Executor | None = None,
    client: WebClient | None = None,
    later: Later | None = None,
    posting_pace: PostingPace | None = None,
    modal_executor: Executor | None = None,
    views_client: WebClient | None = None,
) -> DistillBot:
    """`background` runs the work after each ack, at most `settings.background_queue` jobs
    running or waiting; `modal_executor` and `views_client` open modals on a path of their own."""
    engine = engine or make_engine(settings.database_url)
    template = template or load_template(settings.checklist_file)
    client = client or make_web_client(settings)
    signing_secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    )
    app = make_bolt_app(
        client, signing_secret, socket_mode=settings.socket_mode, listener_executor=listener_executor
    )
    policy = NudgePolicy(default_timezone=settings.default_timezone, hours=settings.nudge_hours)
    background = background or ThreadPoolExecutor(max_workers=BACKGROUND_THREADS, thread_name_prefix="work")
    workflow = Workflow(
        engine, template, client, clock, nudge_policy=policy, later=later or Timers(background)
    )
    # Work a request hands on waits its turn behind the requests being answered (RequestsFirst).
    requests = RequestsFirst(BUSY_JOB_STARTS_PER_SECOND)
    clicks = ClickInbox(engine, workflow, clock, wait_turn=requests.wait_turn)
    nudges = NudgeService(
        engine,
        template,
        client,
        clock,
        workflow,
        policy=policy,
        lease=timedelta(seconds=settings.nudge_lease_seconds),
        pace=posting_pace or PostingPace(settings.nudge_posts_per_minute),
    )
    governance = Governance(
        engine, template, clock, workflow, slack=client, views=views_client or make_views_client(settings)
    )
    lifecycle = Lifecycle(engine, template, clock, workflow, views=governance.views)
    record = ProjectRecord(engine, template, client, clock)
    home = HomeTab(engine, template, client, clock, policy)
    modal_executor = BoundedExecutor(
        modal_executor or ThreadPoolExecutor(max_workers=MODAL_THREADS, thread_name_prefix="modal"),
        MODAL_THREADS * 2,
    )
    # Work a request hands on is bounded, and waits its turn too; the redraw timers above use
    # the pool itself.
    listeners.register(
        app,
        BoundedExecutor(background, settings.background_queue, turns=requests),
        workflow,
        clicks,
        nudges,
        governance,
        modal_executor,
        lifecycle,
        record,
        home,
    )

    @app.error
    def on_error(
        error: Exception, body: dict[str, Any], response: BoltResponse | None
    ) -> BoltResponse | None:
        # A listener that failed before ack(): answer Slack without a 500 or a traceback.
        log.error("unhandled %s in a Slack listener", type(error).__name__, exc_info=error)
        if response is None:
            return None  # acknowledged already; Slack has its answer
        if isinstance(body, dict) and body.get("type") == "view_submission":
            # An empty 200 would close the form as if it had been saved: keep it open, say so.
            return BoltResponse(status=200, body=answer_in_form(body.get("view"), {"_": UNEXPECTED}))
        return BoltResponse(status=200, body="")

    return DistillBot(
        app=app,
        workflow=workflow,
        clicks=clicks,
        nudges=nudges,
        governance=governance,
        engine=engine,
        lifecycle=lifecycle,
        record=record,
        home=home,
        requests=requests,
    )
