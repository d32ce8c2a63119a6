"""The HTTP side: Slack's request URL and a health check, served by waitress."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine
from waitress.server import create_server

from bot.background import RequestsFirst
from storage.engine import ping

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# A click's request waits while its batch of clicks is committed (storage/group_commit.py), so
# more threads than cores make the batches bigger: at 50 clients 32 threads answered about 20%
# more clicks a second than 16 (the bare Bolt app, which never waits, 4%).
SERVER_THREADS = 32
# Slack's payloads are a few kB; anything this large is not from Slack.
MAX_BODY_BYTES = 1_000_000

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def make_wsgi_app(
    app: App, engine: Engine, signing_secret: str, *, requests: RequestsFirst | None = None
) -> WsgiApp:
    """`requests` counts the Slack requests being answered, so background jobs give way to them."""
    slack_handler = SlackRequestHandler(app, path=EVENTS_PATH)
    verifier = SignatureVerifier(signing_secret)
    answering = requests.answering if requests is not None else nullcontext

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == EVENTS_PATH:
            if method != "POST":
                return _plain(start_response, "405 Method Not Allowed", "POST only\n", [("Allow", "POST")])
            with answering():
                return _slack_request(environ, start_response)
        if path == HEALTH_PATH and method in {"GET", "HEAD"}:
            return _health(engine, start_response)
        return _plain(start_response, "404 Not Found", "not found\n")

    def _slack_request(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            return _plain(start_response, "413 Content Too Large", "request too large\n")
        body = environ["wsgi.input"].read(length)
        # Verified here, before Bolt parses the body: Bolt parses first and a malformed body would
        # raise before its own check, so a forged request must be refused before anything reads it.
        # This is the one signature check (Bolt's own is off: see build_bot).
        if not _signed_by_slack(verifier, body, environ):
            return _plain(start_response, "401 Unauthorized", "invalid request signature\n")
        body = _as_bolt_reads_it(body, environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        try:
            return slack_handler(environ, start_response)
        except Exception as error:  # Bolt could not parse a signed body
            log.warning("unreadable Slack request: %s", type(error).__name__)
            return _plain(start_response, "400 Bad Request", "malformed Slack request\n")

    return application


def _as_bolt_reads_it(body: bytes, environ: dict[str, Any]) -> bytes:
    """A form body handed to Bolt as JSON: a slash command's fields, an interaction's payload.

    Bolt decides a form body is an interaction when the text "payload" occurs anywhere in it,
    then finds no `payload` field and drops every field: `/distill start payload parser`, or any
    command from a channel named #payload-team, reached no listener. An interaction's payload
    is decoded here once, quickly (`percent_decoded`); anything else goes to Bolt unchanged."""
    if environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return body
    if body.startswith(b"payload=") and b"&" not in body:  # an interaction, as Slack sends it
        payload = percent_decoded(body[len(b"payload=") :])
        if payload is None:
            return body  # not well-formed: Bolt's own reading decides
        # The payload's JSON, which Bolt would decode from the field: decoded here once, fast.
        environ["CONTENT_TYPE"] = "application/json"
        return payload
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        return body
    if "payload" in fields or "command" not in fields:
        return body
    environ["CONTENT_TYPE"] = "application/json"
    return json.dumps(fields).encode("utf-8")


def percent_decoded(encoded: bytes) -> bytes | None:
    """A form field's value decoded ("+" is a space, "%XX" a byte), or None if malformed.

    urllib's unquote loops in Python over every escape, and a click's payload (the whole
    message, as Slack sends it) has thousands: rewritten as "\\xXX", Python's C codec decodes
    them at once (a literal backslash is doubled first, so it stays one)."""
    escaped = encoded.replace(b"+", b" ").replace(b"\\", b"\\\\").replace(b"%", b"\\x")
    try:
        return escaped.decode("unicode_escape").encode("latin-1")
    except UnicodeDecodeError:
        return None


def _signed_by_slack(verifier: SignatureVerifier, body: bytes, environ: dict[str, Any]) -> bool:
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if not timestamp.isdigit() or not signature:
        return False
    try:
        return verifier.is_valid(body, timestamp, signature)
    except UnicodeDecodeError:  # Slack signs UTF-8 bodies only
        return False


def _health(engine: Engine, start_response: StartResponse) -> Iterable[bytes]:
    try:
        ping(engine)
    except Exception as error:
        log.warning("health check: database unreachable: %s", type(error).__name__)
        return _plain(start_response, "503 Service Unavailable", "database unreachable\n")
    return _plain(start_response, "200 OK", "ok\n")


def _plain(
    start_response: StartResponse, status: str, body: str, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    data = body.encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data))), *(headers or [])],
    )
    return [data]


class HttpServer:
    """A waitress server that can be started and stopped (the CLI and the tests both use it)."""

    def __init__(self, application: WsgiApp, host: str, port: int) -> None:
        self._closing = False
        self._server = create_server(
            application,
            host=host,
            port=port,
            threads=SERVER_THREADS,
            ident="distill-bot",
            # waitress itself answers 413 to a larger Content-Length, before reading any of it
            # (its default reads up to 1 GiB and only then hands the request to the app).
            max_request_body_size=MAX_BODY_BYTES,
        )

    @property
    def port(self) -> int:
        return int(self._server.effective_port)  # type: ignore[union-attr]

    def serve_forever(self) -> None:
        try:
            self._server.run()
        except OSError:
            if not self._closing:
                raise  # closing from another thread can interrupt the poll with EBADF: that is fine

    def shutdown(self) -> None:
        """Stop from another thread (the tests); the CLI stops with SIGTERM instead."""
        self._closing = True
        self._server.close()
        self._server.task_dispatcher.shutdown()
