"""A fake Socket Mode endpoint: the WebSocket that apps.connections.open points the bot at.

Behaves like Slack's: a URL from apps.connections.open carries a single-use ticket; after the
handshake the server sends a `hello`; envelopes go out as JSON text frames and the app answers
each with `{"envelope_id": ..., "payload": ...}`. Built on `websockets`' threaded sync server so
slack_sdk's builtin SocketModeClient (the one Bolt's SocketModeHandler uses) can talk to it.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve


class SocketModeServer:
    def __init__(self, *, app_id: str) -> None:
        self._app_id = app_id
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._received: list[dict[str, Any]] = []
        self._acks: dict[str, dict[str, Any]] = {}
        self._send_lock = threading.Lock()
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        # compression=None: Slack's builtin client never negotiates permessage-deflate anyway.
        # close_timeout is short because that client drops the socket without answering a close frame.
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,
            close_timeout=1,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-slack-socket", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()  # also closes open connections and joins their handlers
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- what FakeSlack exposes --------------------------------------------------------------------

    def new_url(self) -> str:
        """A fresh single-use URL, as apps.connections.open returns."""
        ticket = secrets.token_hex(16)
        with self._cond:
            self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self._app_id}"

    def wait_connected(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._connections), timeout=timeout)

    def send(self, envelope_type: str, payload: dict[str, Any], *, accepts_response_payload: bool) -> str:
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": envelope_type,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        self._send_frame(envelope)
        return envelope_id

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does before recycling a connection."""
        self._send_frame({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})

    def wait_ack(self, envelope_id: str, timeout: float) -> dict[str, Any] | None:
        with self._cond:
            self._cond.wait_for(lambda: envelope_id in self._acks, timeout=timeout)
            return self._acks.get(envelope_id)

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._cond:
            return list(self._received)

    @property
    def connection_count(self) -> int:
        with self._cond:
            return len(self._connections)

    # -- internals ---------------------------------------------------------------------------------

    def _send_frame(self, frame: dict[str, Any]) -> None:
        with self._cond:
            if not self._connections:
                raise RuntimeError("no Socket Mode connection is open")
            connection = self._connections[-1]  # the newest, like Slack after a refresh
        with self._send_lock:
            connection.send(json.dumps(frame))

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse the handshake unless the URL carries an unused ticket from apps.connections.open."""
        query = parse_qs(urlsplit(request.path).query)
        ticket = (query.get("ticket") or [""])[0]
        with self._cond:
            if ticket not in self._tickets:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")
            self._tickets.discard(ticket)
        return None

    def _handle(self, connection: ServerConnection) -> None:
        with self._cond:
            num_connections = len(self._connections) + 1
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": num_connections,
                    "debug_info": {
                        "host": "applink-fake",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self._app_id},
                }
            )
        )
        # Registered only after hello so that "connected" means the client can be sent envelopes.
        with self._cond:
            self._connections.append(connection)
            self._cond.notify_all()
        try:
            for raw in connection:
                self._on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._connections.remove(connection)
                self._cond.notify_all()

    def _on_frame(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            frame = {"unparsable": raw if isinstance(raw, str) else raw.decode("utf-8", "replace")}
        with self._cond:
            self._received.append(frame)
            envelope_id = frame.get("envelope_id") if isinstance(frame, dict) else None
            if isinstance(envelope_id, str):
                self._acks.setdefault(envelope_id, frame)  # the first ack counts, like Slack
            self._cond.notify_all()
