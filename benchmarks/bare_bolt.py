"""A Bolt app that only acknowledges checkbox clicks: the yardstick the bot is measured against.

Served like the bot (waitress, through bot/server.py's HttpServer), in one of two shapes:
- `default`: Bolt's defaults (`App(token=..., signing_secret=...)`), served by Bolt's own WSGI
  adapter;
- `bot`: the Bolt app built exactly as the bot builds it (bot.app.make_bolt_app) and served by
  the bot's WSGI app (signature checked before Bolt parses anything), with what startup built
  frozen out of garbage collection as the bot does (bot.cli.freeze_startup_objects).
Both log as the bot does (bot.core.logging): waitress's line for every request that waits for
a thread would otherwise cost the bare app CPU that the bot does not spend.

    python -m benchmarks.bare_bolt {default|bot} PORT SLACK_API_URL
"""

from __future__ import annotations

import re
import signal
import sys
from types import FrameType

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.app import make_bolt_app
from bot.cli import freeze_startup_objects
from bot.core.logging import configure_logging
from bot.server import HttpServer, WsgiApp, make_wsgi_app
from storage.engine import make_engine
from tests.support import BOT_TOKEN, SIGNING_SECRET


def build(config: str, api_url: str) -> WsgiApp:
    if config == "default":
        app = App(
            token=BOT_TOKEN, signing_secret=SIGNING_SECRET, client=WebClient(BOT_TOKEN, base_url=api_url)
        )
    else:
        app = make_bolt_app(WebClient(BOT_TOKEN, base_url=api_url), SIGNING_SECRET)

    @app.action(re.compile("^item:"))
    def acknowledge(ack: Ack) -> None:
        ack()

    if config == "default":
        return SlackRequestHandler(app)  # type: ignore[return-value]
    return make_wsgi_app(app, make_engine("sqlite://"), SIGNING_SECRET)


def main() -> None:
    config, port, api_url = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    configure_logging("WARNING")
    server = HttpServer(build(config, api_url), "127.0.0.1", port)
    if config == "bot":
        freeze_startup_objects()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
