"""`distill-bot`: run the bot (HTTP or Socket Mode), apply database migrations, or try it all
in a browser without Slack (`distill-bot playground`)."""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import signal
import sys
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.app import DistillBot, build_bot, make_web_client
from bot.checklist.template import TemplateError, load_template
from bot.core.config import ConfigError, Settings, load_settings
from bot.core.logging import configure_logging
from bot.nudges.scheduled import start_nudge_scheduler
from bot.server import EVENTS_PATH, HttpServer, make_wsgi_app
from storage.engine import make_engine
from storage.migrate import upgrade

log = logging.getLogger("bot")

EXIT_CONFIG = 2
PLAYGROUND_HINT = "To try Distill Bot without Slack, run: distill-bot playground"
PLAYGROUND_PORT = 3000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="distill-bot", description=__doc__)
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate", "playground"])
    parser.add_argument(
        "--db", type=Path, help="playground: its SQLite file (default ./distill-playground.db)"
    )
    parser.add_argument("--port", type=int, default=PLAYGROUND_PORT, help="playground: the page's port")
    args = parser.parse_args(argv)
    if args.command == "playground":
        return _run_playground(args.db, args.port)

    try:
        settings = load_settings()
        template = load_template(settings.checklist_file)
    except (ConfigError, TemplateError) as error:
        hint = f". {PLAYGROUND_HINT}" if "SLACK_BOT_TOKEN: Field required" in str(error) else ""
        print(f"distill-bot: configuration error: {error}{hint}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, *_secrets(settings))

    engine = make_engine(settings.database_url)
    upgrade(engine)
    if args.command == "migrate":
        log.info("database is at the latest schema")
        return 0

    client = make_web_client(settings)
    try:
        client.auth_test()  # fail fast, and clearly, on a revoked token or an unreachable Slack
    except SlackApiError as error:
        print(f"distill-bot: Slack refused SLACK_BOT_TOKEN ({error.response.get('error')})", file=sys.stderr)
        return EXIT_CONFIG
    except (SlackClientError, OSError) as error:
        print(f"distill-bot: cannot reach Slack at SLACK_API_URL ({error})", file=sys.stderr)
        return 1
    bot = build_bot(settings, engine=engine, template=template, client=client)
    freeze_startup_objects()
    if settings.socket_mode:
        return _run_socket_mode(bot, settings)
    return _run_http(bot, settings)


def freeze_startup_objects() -> None:
    """Leave what startup built (modules, classes, pydantic's validators, SQLAlchemy's metadata:
    about 120,000 objects, all living as long as the process) out of the garbage collector's full
    passes. Each full pass walked them all with every thread stopped, 70 to 90 ms on this
    project's 2-core machine, and that pause was the 99th percentile of acks under load; frozen,
    a full pass walks only what was made since (about 5 ms)."""
    gc.collect()
    gc.freeze()
    log.info("%d objects built at startup left out of garbage collection", gc.get_freeze_count())


def start_background_work(bot: DistillBot, settings: Settings) -> BackgroundScheduler:
    # Redraw claims a killed process left would hold their messages back; the beat's first
    # pass runs at once: it finishes what a previous run left half-posted, and every later
    # one catches threads up after a Slack failure, with nobody clicking.
    bot.workflow.slack_sync.release_redraw_claims()
    return start_nudge_scheduler(
        bot.nudges,
        settings.nudge_poll_seconds,
        bot.governance.expire_waivers,
        # Applied before the repair pass, which then shows them; both give way to acks.
        bot.clicks.apply_left_waiting,
        partial(bot.workflow.slack_sync.repair, wait_turn=bot.requests.wait_turn),
    )


def _run_http(bot: DistillBot, settings: Settings) -> int:
    assert settings.slack_signing_secret is not None  # Settings requires it in HTTP mode
    application = make_wsgi_app(
        bot.app, bot.engine, settings.slack_signing_secret.get_secret_value(), requests=bot.requests
    )
    try:
        server = HttpServer(application, settings.host, settings.port)
    except OSError as error:
        print(
            f"distill-bot: cannot listen on {settings.host}:{settings.port} ({error.strerror})",
            file=sys.stderr,
        )
        return 1
    _stop_on_sigterm(_exit_serving)
    scheduler = start_background_work(bot, settings)
    log.info("serving Slack requests on http://%s:%s%s", settings.host, server.port, EVENTS_PATH)
    try:
        server.serve_forever()
    finally:
        scheduler.shutdown(wait=False)
    return 0


def _run_socket_mode(bot: DistillBot, settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    assert settings.slack_app_token is not None
    handler = SocketModeHandler(
        bot.app, settings.slack_app_token.get_secret_value(), web_client=bot.app.client
    )
    stopped = threading.Event()
    _stop_on_sigterm(stopped.set)
    handler.connect()
    log.info("connected to Slack in Socket Mode")
    scheduler = start_background_work(bot, settings)
    with contextlib.suppress(KeyboardInterrupt):
        stopped.wait()
    scheduler.shutdown(wait=False)
    handler.close()
    return 0


def _run_playground(database: Path | None, port: int) -> int:
    from bot.playground.workspace import Playground, default_database

    configure_logging("WARNING")
    database = (database or default_database()).resolve()
    try:
        playground = Playground(database, port=port)
    except OSError as error:
        print(
            f"distill-bot: cannot listen on 127.0.0.1:{port} ({error.strerror}); try --port", file=sys.stderr
        )
        return 1
    _stop_on_sigterm(_exit_serving)
    print(f"Distill Bot playground: open {playground.url} in your browser (Ctrl+C stops it).", flush=True)
    print(f"Its data is kept in {database}; run it again to continue.", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        playground.serve_forever()
    return 0


def _exit_serving() -> None:
    # Raised in the main thread, inside waitress's loop, which catches it and shuts down cleanly.
    raise SystemExit(0)


def _stop_on_sigterm(stop: Callable[[], None]) -> None:
    def _handle(_signum: int, _frame: FrameType | None) -> None:
        stop()

    signal.signal(signal.SIGTERM, _handle)


def _secrets(settings: Settings) -> list[str]:
    return [
        secret.get_secret_value()
        for secret in (settings.slack_bot_token, settings.slack_signing_secret, settings.slack_app_token)
        if secret is not None
    ]


if __name__ == "__main__":
    raise SystemExit(main())
