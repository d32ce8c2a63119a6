"""The playground's HTTP routes, beside the bot's own: the page, its files and a small JSON API.

`/slack/events` and `/healthz` go to the bot's WSGI app untouched; the page's clicks reach the
bot only through `Playground`, which signs them and posts them to `/slack/events` like Slack.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from bot.playground.workspace import Playground, PlaygroundError
from bot.server import EVENTS_PATH, HEALTH_PATH, StartResponse, WsgiApp

log = logging.getLogger(__name__)

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/playground.js": ("playground.js", "text/javascript; charset=utf-8"),
    "/static/playground.css": ("playground.css", "text/css; charset=utf-8"),
}
# A shared file's contents, as the page's link to it opens them.
FILES_PREFIX = "/files/"
MAX_BODY_BYTES = 200_000
# How far one press of the clock control may move time.
MAX_CLOCK_STEP = timedelta(days=400)


def make_playground_app(playground: Playground, bot_app: WsgiApp) -> WsgiApp:
    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path in (EVENTS_PATH, HEALTH_PATH):
            return bot_app(environ, start_response)
        if path in STATIC and method in ("GET", "HEAD"):
            name, content_type = STATIC[path]
            data = resources.files("bot.playground").joinpath("static", name).read_bytes()
            return _send(start_response, "200 OK", data, content_type)
        if path.startswith(FILES_PREFIX) and method in ("GET", "HEAD"):
            return _file(playground, path.removeprefix(FILES_PREFIX), start_response)
        if path.startswith("/api/"):
            return _api(playground, path.removeprefix("/api/"), method, environ, start_response)
        return _send(start_response, "404 Not Found", b"not found\n", "text/plain; charset=utf-8")

    return application


def _api(
    playground: Playground, route: str, method: str, environ: dict[str, Any], start_response: StartResponse
) -> Iterable[bytes]:
    try:
        if route == "state" and method == "GET":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            since = query.get("since", [""])[0]
            answer = playground.state(query.get("user", [""])[0], int(since) if since.isdigit() else None)
        elif method == "POST":
            answer = _post(playground, route, _json_body(environ))
        else:
            return _json(start_response, "404 Not Found", {"ok": False, "error": "no such route"})
    except (PlaygroundError, ValueError, TypeError, KeyError) as error:
        return _json(start_response, "400 Bad Request", {"ok": False, "error": str(error)[:200]})
    return _json(start_response, "200 OK", answer)


def _post(playground: Playground, route: str, body: dict[str, Any]) -> dict[str, Any]:
    user = str(body.get("user", ""))
    if route == "command":
        return playground.command(user, str(body["channel"]), str(body.get("text", "")))
    if route == "action":
        ephemeral = body.get("ephemeral_id")
        return playground.act(
            user,
            str(body["channel"]),
            str(body["message_ts"]),
            body["action"],
            ephemeral_id=int(ephemeral) if ephemeral is not None else None,
        )
    if route == "submit":
        values = body.get("values") or {}
        if not isinstance(values, dict):
            raise ValueError("values must be an object")
        return playground.submit(user, str(body["view_id"]), {str(k): str(v) for k, v in values.items()})
    if route == "close":
        return playground.close_modal(user, str(body["view_id"]))
    if route == "home":
        return playground.open_home(user)
    if route == "dismiss":
        return playground.dismiss(user, int(body["id"]))
    if route == "clock":
        step = timedelta(hours=float(body.get("hours", 0)))
        if not timedelta(0) < step <= MAX_CLOCK_STEP:
            raise ValueError("move the clock forward, by at most 400 days")
        return playground.move_clock(step)
    raise KeyError(f"no such action: {route[:40]}")


def _file(playground: Playground, file_id: str, start_response: StartResponse) -> list[bytes]:
    content = playground.file_content(file_id)
    if content is None:
        return _send(start_response, "404 Not Found", b"no such file\n", "text/plain; charset=utf-8")
    # Always plain text, whatever the file's name says: its contents are user text (a project's
    # name, reasons), so a browser must never run them as a page. `sandbox` keeps even a
    # misread document from running scripts or sharing the playground's origin.
    return _send(
        start_response,
        "200 OK",
        content,
        "text/plain; charset=utf-8",
        csp="sandbox; default-src 'none'",
    )


def _json_body(environ: dict[str, Any]) -> dict[str, Any]:
    # Only JSON: a page from another site cannot send it without the browser asking first (CORS),
    # so no other site can act in the playground through a visitor's browser.
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != "application/json":
        raise ValueError("expected Content-Type: application/json")
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not 0 < length <= MAX_BODY_BYTES:
        raise ValueError("expected a JSON body")
    body = json.loads(environ["wsgi.input"].read(length))
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _json(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
    return _send(start_response, status, json.dumps(body).encode(), "application/json")


def _send(
    start_response: StartResponse,
    status: str,
    data: bytes,
    content_type: str,
    *,
    # The page builds everything from DOM text nodes; this is the second line of defence.
    csp: str = "default-src 'self'; img-src 'self' data:; object-src 'none'",
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
            ("Content-Security-Policy", csp),
            ("X-Content-Type-Options", "nosniff"),
        ],
    )
    return [data]
