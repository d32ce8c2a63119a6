"""FakeSlack: a real HTTP server on 127.0.0.1 that plays Slack's Web API for the bot under test.

Point a slack_sdk WebClient at `fake.api_url`. Every call is recorded (`calls`), channels, users and
messages are kept in memory, and faults (429, 5xx, error answers, held or slow calls) can be
injected per method. The fake is meant to be at least as strict as Slack on everything in
/work/shared/SLACK_FACTS.md; where Slack quietly accepts something that is almost certainly a bug
(a reply to an unknown thread, blocks without fallback text, text past 40,000 characters) the call
succeeds like on Slack and a line is added to `warnings`.

Methods the fake does not model answer `unknown_method` on purpose, so the bot cannot silently start
depending on Slack behaviour nobody has described here.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import yaml

from . import blockkit
from .socket_mode import SocketModeServer

APP_ID = "A0001"
BOT_ID = "B0001"
WORKSPACE_URL = "https://fake.slack.com/"
TEXT_TRUNCATED_AT = 40_000  # docs: "no more than 40,000 characters or risk truncation"
MAX_ATTACHMENTS = 100
TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_TTL_SECONDS = 30 * 60
RESPONSE_URL_MAX_USES = 5
REPLIES_DEFAULT_LIMIT = 1000
# Argument names Slack sends as JSON strings inside form fields.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
_SERVER_ERROR_NAMES = {500: "internal_error", 503: "service_unavailable"}
# A symlink to the top-level manifest.yml (the one source), so the package carries the file:
# a source checkout reads the original through it; a wheel holds a copy made at build time.
MANIFEST_PATH = Path(__file__).parent / "manifest.yml"
# The bot scope each method needs (docs, each method's "Scopes" fact); methods absent here need
# none (auth.test, chat.getPermalink, views.*). conversations.* depend on the conversation's kind:
# (public channel, private channel, IM).
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "users.info": "users:read",
    "conversations.join": "channels:join",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
CONVERSATION_SCOPES = {
    "conversations.info": ("channels:read", "groups:read", "im:read"),
    "conversations.history": ("channels:history", "groups:history", "im:history"),
    "conversations.replies": ("channels:history", "groups:history", "im:history"),
}
# users.conversations needs the scope of every kind of conversation it is asked to list.
TYPE_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "mpim": "mpim:read",
    "im": "im:read",
}
USERS_CONVERSATIONS_MAX_LIMIT = 999

Json = dict[str, Any]


def manifest_scopes(path: Path = MANIFEST_PATH) -> frozenset[str]:
    """The bot scopes an app installed from `path` is granted: exactly what it declares."""
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake saw it (args decoded, token removed) and what it answered."""

    method: str
    args: Json
    response: Json
    http_status: int
    # When the request arrived (time.monotonic()): lets a test or benchmark check pacing.
    arrived_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        return self.response.get("error")


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response_url. Refused posts are recorded too, with their error."""

    token: str
    body: Json
    http_status: int = 200
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ManualClock:
    """A clock for `FakeSlack(clock=...)` that only moves when told to (trigger and URL expiry)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True  # the bot's membership
    is_archived: bool = False
    # The people in it; None is everyone in the workspace, as in #general.
    members: tuple[str, ...] | None = None

    @property
    def is_im(self) -> bool:
        return self.id.startswith("D")

    def has_member(self, user_id: str) -> bool:
        return self.members is None or user_id in self.members

    @property
    def hidden_from_bot(self) -> bool:
        """Slack answers channel_not_found for conversations the bot cannot see at all."""
        return (self.is_private or self.is_im) and not self.is_member


@dataclass(frozen=True)
class User:
    id: str
    name: str
    tz: str = "UTC"
    deleted: bool = False  # a deactivated account: Slack still answers users.info for it
    is_bot: bool = False  # an app's bot user


@dataclass(frozen=True)
class _Fault:
    status: int
    retry_after: int | None
    error: str | None
    carry_out: bool = False  # the call is carried out first, then the fault answers
    hang_up: bool = False  # ... and the answer is no answer at all: the connection closes


@dataclass
class _ResponseUrl:
    created: float
    channel_id: str | None
    message_ts: str | None
    uses: int = 0


@dataclass
class _File:
    """A file from files.getUploadURLExternal, its bytes once uploaded, where it was shared."""

    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None


@dataclass
class _Trigger:
    created: float
    used: bool = False


class SlackError(Exception):
    """An API error: answered as HTTP 200 with {"ok": false, "error": ...} like Slack does."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []

    def body(self) -> Json:
        body: Json = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: a bot whose background threads call at once then
    # met dropped and reset connections, which Slack does not give for a few dozen callers.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out (see delay()) has hung up before we answer: not an error here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _flag(value: Any) -> bool:
    """Slack booleans arrive as JSON booleans or as "true"/"1" in forms and query strings."""
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1")) or value == 1


def _ts_key(ts: str) -> Decimal:
    return Decimal(ts)


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",
        app_token: str = "xapp-fake-app-token",
        team_id: str = "T0001",
        bot_user_id: str = "UBOT",
        clock: Callable[[], float] = time.time,
        scopes: frozenset[str] | None = None,
    ) -> None:
        """`scopes` are the bot scopes granted at install; by default what manifest.yml declares."""
        self.bot_token = bot_token
        self.scopes = manifest_scopes() if scopes is None else frozenset(scopes)
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.clock = clock
        # Current docs list is_inactive for chat.update in an archived channel, SLACK_FACTS says
        # is_archived: tests can flip this to prove the bot copes with both.
        self.update_archived_error = "is_archived"

        self._lock = threading.RLock()
        self._progress = threading.Condition(self._lock)  # signals arrivals and answers
        self._stopping = threading.Event()
        self._channels: dict[str, Channel] = {}
        self._users: dict[str, User] = {}
        self._messages: dict[str, dict[str, Json]] = {}
        self._ephemerals: list[Json] = []
        self._views: dict[str, Json] = {}
        self._home_views: dict[str, Json] = {}
        self._files: dict[str, _File] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._calls: list[Call] = []
        self._responses: list[ResponseUrlPost] = []
        self._warnings: list[str] = []
        self._scope_refusals: list[str] = []
        self._arrivals: Counter[str] = Counter()
        self._answered: Counter[str] = Counter()
        self._faults: dict[str, list[_Fault]] = {}
        self._outage: tuple[int, int] | None = None  # every call fails: (HTTP status, store every n-th post)
        self._outage_posts = 0
        self._holds: dict[str, threading.Event] = {}
        self._answer_holds: dict[str, threading.Event] = {}
        self._delays: dict[str, float] = {}
        self._last_ts_micros = 0
        self._serial = 0
        self._observers: list[Callable[[Call | ResponseUrlPost], None]] = []

        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._socket = SocketModeServer(app_id=APP_ID)
        self.port = 0

        # method -> (handler, token kind it needs)
        self._methods: dict[str, tuple[Callable[[Json], Json], str]] = {
            "auth.test": (self._auth_test, "bot"),
            "chat.postMessage": (self._chat_post_message, "bot"),
            "chat.update": (self._chat_update, "bot"),
            "chat.delete": (self._chat_delete, "bot"),
            "chat.getPermalink": (self._chat_get_permalink, "bot"),
            "chat.postEphemeral": (self._chat_post_ephemeral, "bot"),
            "conversations.info": (self._conversations_info, "bot"),
            "conversations.replies": (self._conversations_replies, "bot"),
            "conversations.history": (self._conversations_history, "bot"),
            "conversations.join": (self._conversations_join, "bot"),
            "users.info": (self._users_info, "bot"),
            "users.conversations": (self._users_conversations, "bot"),
            "views.open": (self._views_open, "bot"),
            "views.push": (self._views_push, "bot"),
            "views.update": (self._views_update, "bot"),
            "views.publish": (self._views_publish, "bot"),
            "files.getUploadURLExternal": (self._files_get_upload_url_external, "bot"),
            "files.completeUploadExternal": (self._files_complete_upload_external, "bot"),
            "apps.connections.open": (self._apps_connections_open, "app"),
        }

    # ==============================================================================================
    # lifecycle
    # ==============================================================================================

    def start(self) -> FakeSlack:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep pytest output clean; `calls` is the log

        self._http = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._http.server_address[1]
        # A short poll interval keeps stop() (which waits for the next poll) fast in every test teardown.
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="fake-slack-http",
            daemon=True,
        )
        self._http_thread.start()
        self._socket.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends delay() waits
        self.release_all()  # so held requests finish and their threads can exit
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
        self._socket.stop()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ==============================================================================================
    # state set-up
    # ==============================================================================================

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
        members: Iterable[str] | None = None,
    ) -> None:
        """Ids starting with "D" are IMs (always private to the bot). `is_member` is the bot's
        membership; `members` the people in the channel (None: everyone in the workspace)."""
        people = None if members is None else tuple(sorted(members))
        with self._lock:
            self._channels[channel_id] = Channel(channel_id, name, is_private, is_member, is_archived, people)
            self._messages.setdefault(channel_id, {})

    def set_channel(self, channel_id: str, **changes: Any) -> None:
        """Change a channel, e.g. `set_channel("C1", is_archived=True)` or `is_member=False`."""
        allowed = {f.name for f in fields(Channel)} - {"id"}
        unknown = set(changes) - allowed
        if unknown:
            raise TypeError(f"set_channel: unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        if changes.get("members") is not None:
            changes["members"] = tuple(sorted(changes["members"]))
        with self._lock:
            self._channels[channel_id] = replace(self._channels[channel_id], **changes)

    def add_user(
        self, user_id: str, name: str, *, tz: str = "UTC", deleted: bool = False, is_bot: bool = False
    ) -> None:
        ZoneInfo(tz)  # fail here, not in the middle of a users.info call
        with self._lock:
            self._users[user_id] = User(user_id, name, tz, deleted, is_bot)

    def add_message(
        self,
        channel_id: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        blocks: list[Json] | None = None,
        metadata: Json | None = None,
        bot_id: str | None = None,
        app_id: str | None = None,
    ) -> str:
        """Put a message from someone (not necessarily the bot) in a channel; returns its ts.
        `bot_id` and `app_id` make it another app's post."""
        with self._lock:
            channel = self._channels[channel_id]
            message: Json = {"type": "message", "user": user, "text": text, "team": self.team_id}
            if bot_id:
                message["bot_id"] = bot_id
            if app_id:
                message["app_id"] = app_id
            if blocks:
                message["blocks"] = copy.deepcopy(blocks)
            if metadata:
                message["metadata"] = copy.deepcopy(metadata)
            return self._store_message(channel, message, thread_ts)

    def new_response_url(self, *, channel_id: str | None = None, message_ts: str | None = None) -> str:
        """A response_url as in an interaction payload: 5 uses within 30 minutes (by `clock`).

        Give the message it belongs to and `replace_original` / `delete_original` act on it.
        """
        token = secrets.token_hex(12)
        with self._lock:
            self._response_urls[token] = _ResponseUrl(self.clock(), channel_id, message_ts)
        return f"{self.base_url}/response/{token}"

    def new_trigger_id(self) -> str:
        """A trigger_id as in an interaction payload: one use, within 3 seconds (by `clock`)."""
        with self._lock:
            self._serial += 1
            trigger_id = f"{int(self.clock())}.{self._serial}.{secrets.token_hex(16)}"
            self._triggers[trigger_id] = _Trigger(self.clock())
        return trigger_id

    # ==============================================================================================
    # inspection (all return copies, safe to use while the bot is running)
    # ==============================================================================================

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def wait_for_call(self, method: str, *, count: int = 1, timeout: float = 10) -> bool:
        """Wait until `count` calls to `method` have been answered (and so are in `calls`/`responses`).

        `method` "response_url" counts posts to response URLs."""
        with self._progress:
            return self._progress.wait_for(lambda: self._answered[method] >= count, timeout=timeout)

    def arrivals(self, method: str) -> int:
        """Requests to `method` that have arrived so far, answered or not (e.g. held)."""
        with self._lock:
            return self._arrivals[method]

    def wait_for_arrival(self, method: str, *, count: int = 1, timeout: float = 10) -> bool:
        """Wait until `count` requests to `method` have arrived, answered or not (e.g. held)."""
        with self._progress:
            return self._progress.wait_for(lambda: self._arrivals[method] >= count, timeout=timeout)

    def messages(self, channel_id: str, *, thread_ts: str | None = None) -> list[Json]:
        """Stored messages in ts order: the whole channel, or one thread (parent first)."""
        with self._lock:  # copied under the lock: an update may be changing a message meanwhile
            stored = list(self._messages.get(channel_id, {}).values())
            if thread_ts is not None:
                stored = [m for m in stored if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]
            return [self._inspect(m) for m in sorted(stored, key=lambda m: _ts_key(m["ts"]))]

    def message(self, channel_id: str, ts: str) -> Json:
        """A message's current state, after updates. KeyError when there is none."""
        with self._lock:
            return self._inspect(self._messages[channel_id][ts])

    @property
    def ephemerals(self) -> list[Json]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def views(self) -> list[Json]:
        """Views opened, pushed or updated, current state, in order of creation."""
        with self._lock:
            return copy.deepcopy(list(self._views.values()))

    def home_view(self, user_id: str) -> Json | None:
        """The Home tab view last published for `user_id`, if any."""
        with self._lock:
            view = self._home_views.get(user_id)
            return copy.deepcopy(view) if view is not None else None

    @property
    def files(self) -> list[Json]:
        """Files shared by files.completeUploadExternal, in order: id, filename, title, channel,
        thread_ts and the uploaded content (bytes)."""
        with self._lock:
            return [
                {
                    "id": f.id,
                    "filename": f.filename,
                    "title": f.title,
                    "channel": f.channel_id,
                    "thread_ts": f.thread_ts,
                    "content": f.content,
                }
                for f in self._files.values()
                if f.channel_id is not None
            ]

    @property
    def responses(self) -> list[ResponseUrlPost]:
        with self._lock:
            return list(self._responses)

    @property
    def scope_refusals(self) -> list[str]:
        """Calls answered `missing_scope` ("method needs scope"): the manifest lacks a scope the bot uses."""
        with self._lock:
            return list(self._scope_refusals)

    @property
    def warnings(self) -> list[str]:
        """Things Slack accepts but that are almost certainly bugs in the bot."""
        with self._lock:
            return list(self._warnings)

    def observe(self, observer: Callable[[Call | ResponseUrlPost], None]) -> None:
        """Call `observer` with every answered Web API call and response_url post, in order, under
        the fake's lock (so it may read the fake's state, and must be quick)."""
        with self._lock:
            self._observers.append(observer)

    def _notify(self, event: Call | ResponseUrlPost) -> None:
        for observer in self._observers:
            observer(event)

    # ==============================================================================================
    # a workspace that outlives the process (the playground keeps it in its database)
    # ==============================================================================================

    def snapshot(self) -> Json:
        """The workspace (channels, users, messages, shared files) as JSON, for `restore` in a
        later process."""
        with self._lock:
            return {
                "channels": [asdict(channel) for channel in self._channels.values()],
                "users": [asdict(user) for user in self._users.values()],
                "messages": copy.deepcopy(self._messages),
                # Shared files too: their messages are kept, so what they link must be.
                "files": [
                    {**asdict(f), "content": base64.b64encode(f.content or b"").decode()}
                    for f in self._files.values()
                    if f.channel_id is not None
                ],
                "last_ts_micros": self._last_ts_micros,
                "serial": self._serial,
            }

    def restore(self, state: Json) -> None:
        with self._lock:
            for channel in state.get("channels", []):
                members = channel.get("members")
                self._channels[channel["id"]] = Channel(
                    **{**channel, "members": None if members is None else tuple(members)}
                )
            for user in state.get("users", []):
                self._users[user["id"]] = User(**user)
            self._messages.update(copy.deepcopy(state.get("messages", {})))
            for shared in state.get("files", []):
                content = base64.b64decode(shared["content"])
                self._files[shared["id"]] = _File(**{**shared, "content": content})
            self._last_ts_micros = max(self._last_ts_micros, int(state.get("last_ts_micros", 0)))
            self._serial = max(self._serial, int(state.get("serial", 0)))

    # ==============================================================================================
    # fault injection
    # ==============================================================================================

    def fail(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        times: int = 1,
        error: str | None = None,
        carry_out: bool = False,
        hang_up: bool = False,
    ) -> None:
        """The next `times` calls to `method` fail: HTTP `status` (429 with Retry-After when given),
        or, with `error=`, HTTP 200 {"ok": false, "error": error}. With `carry_out=True` the call
        is done first (a post is stored) and the failure answers anyway; with `hang_up=True` it is
        done and the connection closes with no answer. Use method "response_url" for
        response_url posts."""
        fault = _Fault(status, retry_after, error, carry_out or hang_up, hang_up)
        with self._lock:
            self._faults.setdefault(method, []).extend([fault] * times)

    def outage(self, *, status: int = 503, store_every: int = 0) -> None:
        """Every Web API call fails with HTTP `status` until `end_outage()`. With `store_every=n`,
        every n-th post is stored before it is answered as failed, as a Slack that broke after
        the write would; the caller cannot tell which."""
        with self._lock:
            self._outage = (status, store_every)

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    def hold(self, method: str) -> threading.Event:
        """Calls to `method` wait, unanswered and unprocessed, until the returned Event is set."""
        event = threading.Event()
        with self._lock:
            self._holds[method] = event
        return event

    def hold_answers(self, method: str) -> threading.Event:
        """Calls to `method` are carried out (a post is stored) but not answered until the Event
        is set: the window where Slack has accepted a request and the client does not know it."""
        event = threading.Event()
        with self._lock:
            self._answer_holds[method] = event
        return event

    def release_all(self) -> None:
        with self._lock:
            holds = [*self._holds.values(), *self._answer_holds.values()]
            self._holds.clear()
            self._answer_holds.clear()
        for event in holds:
            event.set()

    def delay(self, method: str, seconds: float) -> None:
        """Answer `method` only after `seconds` (to provoke client timeouts); 0 removes the delay."""
        with self._lock:
            self._delays[method] = seconds

    # ==============================================================================================
    # Socket Mode
    # ==============================================================================================

    def socket_connected(self, timeout: float = 10) -> bool:
        return self._socket.wait_connected(timeout)

    def socket_send(self, envelope_type: str, payload: Json, *, accepts_response_payload: bool = True) -> str:
        """Send an envelope ("slash_commands", "interactive", "events_api"); returns its envelope_id."""
        return self._socket.send(envelope_type, payload, accepts_response_payload=accepts_response_payload)

    def socket_ack(self, envelope_id: str, timeout: float = 10) -> Json | None:
        """The app's acknowledgement {"envelope_id": ..., "payload": ...}, or None if none came."""
        return self._socket.wait_ack(envelope_id, timeout)

    def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        self._socket.send_disconnect(reason)

    @property
    def socket_received(self) -> list[Json]:
        return self._socket.received

    # ==============================================================================================
    # HTTP plumbing
    # ==============================================================================================

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = urlsplit(request.path).path
        headers: dict[str, str] = {}
        if path.startswith("/api/"):
            status, headers, body = self._serve_api(path.removeprefix("/api/"), request)
            if status == 0:  # hang_up: the connection closes with no answer at all
                request.close_connection = True
                return
        elif path.startswith("/response/"):
            status, body = self._serve_response_url(path.removeprefix("/response/"), request)
        elif path.startswith("/upload/"):
            status, text = self._serve_upload(path.removeprefix("/upload/"), request)
            data = text.encode("utf-8")
            request.send_response(status)
            request.send_header("Content-Type", "text/plain; charset=utf-8")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)
            return
        else:
            status, body = 404, {"ok": False, "error": "not_found"}
        payload = json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json; charset=utf-8")
        request.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(payload)

    def _serve_api(self, method: str, request: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], Json]:
        parse_error: SlackError | None = None
        try:
            args = self._read_args(request)
        except SlackError as e:
            args, parse_error = {}, e
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
        form_token = args.pop("token", None)
        token = token or form_token

        arrived_at = time.monotonic()
        fault = self._arrive(method)
        if fault is not None and not fault.carry_out:
            status, headers, body = self._fault_answer(fault)
        else:
            status, headers = 200, {}
            with self._lock:
                try:
                    if parse_error is not None:
                        raise parse_error
                    body = self._answer(method, args, token)
                except SlackError as e:
                    body = e.body()
            if fault is not None and not fault.hang_up:
                status, headers, body = self._fault_answer(fault)  # done, and answered as failed
        answer_hold = self._answer_holds.get(method)
        if answer_hold is not None:
            answer_hold.wait()  # done on Slack's side, the answer not yet sent back
        with self._progress:
            self._calls.append(Call(method, copy.deepcopy(args), copy.deepcopy(body), status, arrived_at))
            self._answered[method] += 1
            self._notify(self._calls[-1])
            self._progress.notify_all()
        if fault is not None and fault.hang_up:
            return 0, {}, body
        return status, headers, body

    def _arrive(self, method: str) -> _Fault | None:
        """Count the arrival, honour hold() and delay(), then take the next injected fault if any."""
        with self._progress:
            self._arrivals[method] += 1
            self._progress.notify_all()
            hold = self._holds.get(method)
            delay = self._delays.get(method, 0)
        if hold is not None:
            hold.wait()
        if delay:
            self._stopping.wait(delay)
        with self._lock:
            queue = self._faults.get(method)
            if queue:
                return queue.pop(0)
            if self._outage is None or method == "response_url":  # hooks.slack.com is not the Web API
                return None
            status, store_every = self._outage
            self._outage_posts += method == "chat.postMessage"
            stored = method == "chat.postMessage" and store_every and self._outage_posts % store_every == 0
            return _Fault(status, None, None, carry_out=bool(stored))

    @staticmethod
    def _fault_answer(fault: _Fault) -> tuple[int, dict[str, str], Json]:
        if fault.error is not None:
            return 200, {}, {"ok": False, "error": fault.error}
        headers: dict[str, str] = {}
        if fault.status == 429:
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return 429, headers, {"ok": False, "error": "ratelimited"}
        return (
            fault.status,
            headers,
            {"ok": False, "error": _SERVER_ERROR_NAMES.get(fault.status, "fatal_error")},
        )

    def _read_args(self, request: BaseHTTPRequestHandler) -> Json:
        """Query string, JSON body, form body or multipart: all the ways slack_sdk sends arguments."""
        args: Json = dict(parse_qsl(urlsplit(request.path).query, keep_blank_values=True))
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        if raw:
            content_type = request.headers.get("Content-Type", "")
            media_type = content_type.split(";")[0].strip().lower()
            if not media_type:
                raise SlackError("missing_post_type")
            if media_type == "application/json":
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise SlackError("invalid_json") from None
                if not isinstance(body, dict):
                    raise SlackError("invalid_json")
                args.update(body)
            elif media_type == "application/x-www-form-urlencoded":
                args.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            elif media_type == "multipart/form-data":
                args.update(self._multipart(content_type, raw))
            else:
                raise SlackError("invalid_post_type")
        for name in _JSON_FIELDS:
            value = args.get(name)
            if isinstance(value, str):
                # Undecodable JSON stays a string: the method answers with its own *_format error.
                with contextlib.suppress(ValueError):
                    args[name] = json.loads(value)
        return args

    @staticmethod
    def _multipart(content_type: str, raw: bytes) -> Json:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        args: Json = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                args[name] = payload.decode("utf-8", "replace")
        return args

    def _answer(self, method: str, args: Json, token: str | None) -> Json:
        entry = self._methods.get(method)
        if entry is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        handler, token_kind = entry
        if not token:
            raise SlackError("not_authed")
        if token not in (self.bot_token, self.app_token):
            raise SlackError("invalid_auth")
        if token != (self.app_token if token_kind == "app" else self.bot_token):
            raise SlackError("not_allowed_token_type")
        needed = self._needed_scope(method, args) if token_kind == "bot" else None
        if needed is not None and needed not in self.scopes:
            self._scope_refusals.append(f"{method} needs {needed}")
            return {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(sorted(self.scopes)),
            }
        return {"ok": True, **handler(args)}

    def _needed_scope(self, method: str, args: Json) -> str | None:
        if method == "users.conversations":
            needed = [TYPE_SCOPES[kind] for kind in self._conversation_types(args)]
            return next((scope for scope in needed if scope not in self.scopes), None)
        by_kind = CONVERSATION_SCOPES.get(method)
        if by_kind is None:
            return METHOD_SCOPES.get(method)
        ref = args.get("channel")
        channel = self._channels.get(ref) if isinstance(ref, str) else None
        if channel is not None and channel.is_im:
            return by_kind[2]
        return by_kind[1] if channel is not None and channel.is_private else by_kind[0]

    # ==============================================================================================
    # shared checks
    # ==============================================================================================

    def _warn(self, text: str) -> None:
        self._warnings.append(text)

    def _next_ts(self) -> str:
        """Unique, strictly increasing message ts derived from the clock, e.g. "1700000000.000100"."""
        micros = max(int(self.clock() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel(self, ref: Any, *, by_name: bool = False) -> Channel:
        """The conversation the bot can see, or channel_not_found (Slack hides private ones)."""
        channel = self._channels.get(ref) if isinstance(ref, str) else None
        if channel is None and by_name and isinstance(ref, str) and ref:
            channel = self._channel_by_name_or_user(ref)
        if channel is None or channel.hidden_from_bot:
            raise SlackError("channel_not_found")
        return channel

    def _channel_by_name_or_user(self, ref: str) -> Channel | None:
        """chat.post* also take "#name" or a user id (which posts in the bot's DM with that user)."""
        if ref in self._users:
            dm_id = "D" + ref
            if dm_id not in self._channels:
                self.add_channel(dm_id, self._users[ref].name)
            return self._channels[dm_id]
        name = ref.removeprefix("#")
        return next((c for c in self._channels.values() if c.name == name and not c.is_im), None)

    def _content(
        self, args: Json, *, surface: str
    ) -> tuple[str | None, list[Json] | None, list[Json] | None]:
        """Check text/blocks/attachments like chat.postMessage does; returns what should be stored."""
        text = args.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        blocks = args.get("blocks")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        attachments = args.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if blocks:
            problems = blockkit.validate_message_blocks(blocks)
            if problems:
                raise SlackError("invalid_blocks", problems)
            length = blockkit.blocks_text_length(blocks)
            if length > blockkit.MESSAGE_BLOCKS_TEXT_LIMIT:
                raise SlackError(
                    "msg_blocks_too_long",
                    [
                        f"[ERROR] blocks hold {length} characters of text, over about "
                        f"{blockkit.MESSAGE_BLOCKS_TEXT_LIMIT}"
                    ],
                )
            if not text:
                self._warn(f"{surface}: blocks without a top-level text fallback (used for notifications)")
        if attachments and len(attachments) > MAX_ATTACHMENTS:
            raise SlackError("too_many_attachments")
        if text and len(text) > TEXT_TRUNCATED_AT:
            self._warn(f"{surface}: text of {len(text)} characters truncated to {TEXT_TRUNCATED_AT}")
            text = text[:TEXT_TRUNCATED_AT]
        return text, blocks or None, attachments or None

    @staticmethod
    def _metadata(raw: Any, *, allow_empty: bool) -> Json | None:
        """Message metadata: {"event_type": str, "event_payload": {...}}; {} clears it on update."""
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise SlackError("invalid_metadata_format")
        if not raw and allow_empty:
            return {}
        event_type = raw.get("event_type")
        if (
            set(raw) != {"event_type", "event_payload"}
            or not isinstance(event_type, str)
            or not event_type
            or not isinstance(raw.get("event_payload"), dict)
        ):
            raise SlackError("invalid_metadata_schema")
        return copy.deepcopy(raw)

    def _store_message(self, channel: Channel, message: Json, thread_ts: Any) -> str:
        """Give the message a ts, attach it to its thread, store it; returns the ts."""
        ts = self._next_ts()
        message["ts"] = ts
        stored = self._messages.setdefault(channel.id, {})
        if thread_ts not in (None, ""):
            thread_ts = str(thread_ts)
            target = stored.get(thread_ts)
            if target is None:
                # Slack answers ok but the reply is seen nowhere (python-slack-sdk#840).
                self._warn(
                    f"reply in {channel.id} to thread_ts {thread_ts}, which matches no message: "
                    "Slack accepts it but nobody will ever see the reply"
                )
            else:
                parent_ts = str(target.get("thread_ts", target["ts"]))
                if parent_ts != thread_ts:
                    self._warn(f"reply in {channel.id} used a reply's ts {thread_ts}; use the parent's")
                    thread_ts = parent_ts
                parent = stored[parent_ts]
                parent["thread_ts"] = parent_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["reply_users"] = sorted({*parent.get("reply_users", []), message["user"]})
                parent["latest_reply"] = ts
                message["parent_user_id"] = parent["user"]
            message["thread_ts"] = thread_ts
        stored[ts] = message
        return ts

    @staticmethod
    def _public(message: Json, *, with_metadata: bool) -> Json:
        out = copy.deepcopy(message)
        if not with_metadata:
            out.pop("metadata", None)
        return out

    @staticmethod
    def _inspect(message: Json) -> Json:
        """A stored message with every commonly inspected key present."""
        base: Json = {
            "ts": None,
            "thread_ts": None,
            "text": "",
            "blocks": [],
            "metadata": None,
            "user": None,
            "edited": None,
        }
        return {**base, **copy.deepcopy(message)}

    # ==============================================================================================
    # Web API methods
    # ==============================================================================================

    def _auth_test(self, args: Json) -> Json:
        return {
            "url": WORKSPACE_URL,
            "team": "Fake",
            "user": "distillbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"), by_name=True)
        if channel.is_archived:
            raise SlackError("is_archived")
        if not channel.is_member and "chat:write.public" not in self.scopes:
            raise SlackError("not_in_channel")  # only chat:write.public posts where the bot is no member
        text, blocks, attachments = self._content(args, surface="chat.postMessage")
        metadata = self._metadata(args.get("metadata"), allow_empty=False)
        message: Json = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": self.team_id,
            "text": text or "",
        }
        if blocks:
            message["blocks"] = copy.deepcopy(blocks)
        if attachments:
            message["attachments"] = copy.deepcopy(attachments)
        if metadata:
            message["metadata"] = metadata
        ts = self._store_message(channel, message, args.get("thread_ts"))
        return {"channel": channel.id, "ts": ts, "message": self._public(message, with_metadata=True)}

    def _chat_update(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))
        if channel.is_archived:
            raise SlackError(self.update_archived_error)
        ts = args.get("ts")
        message = self._messages[channel.id].get(ts) if isinstance(ts, str) else None
        if message is None:
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(args, surface="chat.update")
        metadata = self._metadata(args.get("metadata"), allow_empty=True)
        if text is not None:
            message["text"] = text
        # Slack: an update without blocks removes the blocks (and likewise attachments).
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value:
                message[key] = copy.deepcopy(value)
            else:
                message.pop(key, None)
        if metadata == {}:
            message.pop("metadata", None)
        elif metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": channel.id,
            "ts": ts,
            "text": message["text"],
            "message": self._public(message, with_metadata=True),
        }

    def _chat_delete(self, args: Json) -> Json:
        """A bot token deletes only the bot's own messages (docs: chat.delete, "Usage info")."""
        channel = self._channel(args.get("channel"))
        ts = args.get("ts")
        message = self._messages[channel.id].get(ts) if isinstance(ts, str) else None
        if message is None or not isinstance(ts, str):
            raise SlackError("message_not_found")
        if message.get("user") != self.bot_user_id:
            raise SlackError("cant_delete_message")
        del self._messages[channel.id][ts]
        thread_ts = message.get("thread_ts")
        parent = self._messages[channel.id].get(thread_ts) if thread_ts and thread_ts != ts else None
        if parent is not None:
            replies = [m for m in self._messages[channel.id].values() if m.get("thread_ts") == thread_ts]
            replies = [m for m in replies if m["ts"] != thread_ts]
            parent["reply_count"] = len(replies)
            if replies:
                parent["latest_reply"] = max((m["ts"] for m in replies), key=_ts_key)
            else:
                parent.pop("latest_reply", None)
        return {"channel": channel.id, "ts": ts}

    def _chat_get_permalink(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))
        ts = args.get("message_ts")
        message = self._messages[channel.id].get(ts) if isinstance(ts, str) else None
        if message is None or not isinstance(ts, str):
            raise SlackError("message_not_found")
        permalink = f"{WORKSPACE_URL}archives/{channel.id}/p{ts.replace('.', '')}"
        thread_ts = message.get("thread_ts")
        if thread_ts and thread_ts != ts:
            permalink += f"?thread_ts={thread_ts}&cid={channel.id}"
        return {"channel": channel.id, "permalink": permalink}

    def _chat_post_ephemeral(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"), by_name=True)
        if channel.is_archived:
            raise SlackError("is_archived")
        user = args.get("user")
        if not isinstance(user, str) or user not in self._users:
            raise SlackError("user_not_found")
        if not channel.is_im and not channel.has_member(user):
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(args, surface="chat.postEphemeral")
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": text or "",
                "blocks": copy.deepcopy(blocks or []),
                "attachments": copy.deepcopy(attachments or []),
                "thread_ts": args.get("thread_ts"),
                "message_ts": ts,
            }
        )
        return {"message_ts": ts}

    def _conversations_info(self, args: Json) -> Json:
        return {"channel": self._conversation(self._channel(args.get("channel")))}

    def _conversation(self, channel: Channel) -> Json:
        info: Json = {
            "id": channel.id,
            "created": 1_600_000_000,
            "is_channel": not channel.is_private and not channel.is_im,
            "is_group": channel.is_private and not channel.is_im,
            "is_im": channel.is_im,
            "is_mpim": False,
            "is_private": channel.is_private or channel.is_im,
            "is_archived": channel.is_archived,
            "is_member": channel.is_member,
        }
        if channel.is_im:
            if channel.id[1:] in self._users:  # DMs the fake opened itself are "D" + user id
                info["user"] = channel.id[1:]
        else:
            info["name"] = channel.name
            info["name_normalized"] = channel.name
        return info

    def _conversations_join(self, args: Json) -> Json:
        """Join a public channel; private ones need an invite (the bot cannot even see them)."""
        channel = self._channel(args.get("channel"))
        if channel.is_im or channel.is_private:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackError("is_archived")
        answer: Json = {}
        if channel.is_member:
            answer = {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        self._channels[channel.id] = replace(channel, is_member=True)
        return {"channel": self._conversations_info({"channel": channel.id})["channel"], **answer}

    def _conversations_replies(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))
        if not channel.is_member:
            raise SlackError("not_in_channel")  # reading history needs membership, even in public channels
        ts = args.get("ts")
        stored = self._messages[channel.id]
        if not isinstance(ts, str) or ts not in stored:
            raise SlackError("thread_not_found")
        replies = (m for m in stored.values() if m.get("thread_ts") == ts and m["ts"] != ts)
        thread = [stored[ts], *sorted(replies, key=lambda m: _ts_key(m["ts"]))]
        try:
            limit = int(args.get("limit") or REPLIES_DEFAULT_LIMIT)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        offset = self._decode_cursor(args.get("cursor"))
        page = thread[offset : offset + max(limit, 1)]
        with_metadata = _flag(args.get("include_all_metadata"))
        answer: Json = {
            "messages": [self._public(m, with_metadata=with_metadata) for m in page],
            "has_more": offset + len(page) < len(thread),
        }
        if answer["has_more"]:
            cursor = base64.b64encode(f"offset:{offset + len(page)}".encode()).decode()
            answer["response_metadata"] = {"next_cursor": cursor}
        return answer

    def _conversations_history(self, args: Json) -> Json:
        """Top-level messages, newest first, within oldest/latest (exclusive unless inclusive)."""
        channel = self._channel(args.get("channel"))
        if not channel.is_member:
            raise SlackError("not_in_channel")
        try:
            oldest = _ts_key(str(args.get("oldest") or "0"))
            latest = _ts_key(str(args["latest"])) if args.get("latest") else None
            limit = int(args.get("limit") or 100)
        except (ArithmeticError, TypeError, ValueError):
            raise SlackError("invalid_arguments") from None
        inclusive = _flag(args.get("inclusive"))

        def within(ts: str) -> bool:
            key = _ts_key(ts)
            above = key >= oldest if inclusive else key > oldest
            below = latest is None or (key <= latest if inclusive else key < latest)
            return above and below

        top = [m for m in self._messages[channel.id].values() if m.get("thread_ts") in (None, m["ts"])]
        history = sorted((m for m in top if within(m["ts"])), key=lambda m: _ts_key(m["ts"]), reverse=True)
        offset = self._decode_cursor(args.get("cursor"))
        page = history[offset : offset + max(min(limit, 999), 1)]
        with_metadata = _flag(args.get("include_all_metadata"))
        answer: Json = {
            "messages": [self._public(m, with_metadata=with_metadata) for m in page],
            "has_more": offset + len(page) < len(history),
        }
        if answer["has_more"]:
            cursor = base64.b64encode(f"offset:{offset + len(page)}".encode()).decode()
            answer["response_metadata"] = {"next_cursor": cursor}
        return answer

    @staticmethod
    def _decode_cursor(cursor: Any) -> int:
        if not cursor:
            return 0
        try:
            kind, _, number = base64.b64decode(str(cursor)).decode().partition(":")
            if kind != "offset":
                raise ValueError(kind)
            return int(number)
        except ValueError:
            raise SlackError("invalid_cursor") from None

    @staticmethod
    def _conversation_types(args: Json) -> list[str]:
        kinds = [kind.strip() for kind in str(args.get("types") or "public_channel").split(",")]
        if not kinds or any(kind not in TYPE_SCOPES for kind in kinds):
            raise SlackError("invalid_types")
        return kinds

    def _users_conversations(self, args: Json) -> Json:
        """The conversations a user is in (the bot, without `user`). Slack lists another user's
        private channels only where the bot is a member too, and omits `is_member`."""
        kinds = set(self._conversation_types(args))
        try:
            limit = int(args.get("limit") or 100)
        except (TypeError, ValueError):
            raise SlackError("invalid_limit") from None
        if not 1 <= limit <= USERS_CONVERSATIONS_MAX_LIMIT:
            raise SlackError("invalid_limit")
        user = args.get("user")
        if user is not None and user not in self._users:
            raise SlackError("user_not_found")
        exclude_archived = _flag(args.get("exclude_archived"))

        def kind(channel: Channel) -> str:
            return "im" if channel.is_im else "private_channel" if channel.is_private else "public_channel"

        def listed(channel: Channel) -> bool:
            if kind(channel) not in kinds or (exclude_archived and channel.is_archived):
                return False
            if user is None:
                return channel.is_member
            if channel.is_im:
                return False  # the bot's DMs are its own to list
            return channel.has_member(user) and (channel.is_member or not channel.is_private)

        found = sorted((c for c in self._channels.values() if listed(c)), key=lambda c: c.id)
        offset = self._decode_cursor(args.get("cursor"))
        page = found[offset : offset + limit]
        conversations = [{k: v for k, v in self._conversation(c).items() if k != "is_member"} for c in page]
        more = offset + len(page) < len(found)
        cursor = base64.b64encode(f"offset:{offset + len(page)}".encode()).decode() if more else ""
        return {"channels": conversations, "response_metadata": {"next_cursor": cursor}}

    def _users_info(self, args: Json) -> Json:
        user = self._users.get(args.get("user", ""))
        if user is None and args.get("user") == self.bot_user_id:  # the app's own bot user
            user = User(self.bot_user_id, "distill_bot", is_bot=True)
        if user is None:
            raise SlackError("user_not_found")
        zone = ZoneInfo(user.tz)
        now = datetime.fromtimestamp(self.clock(), tz=UTC).astimezone(zone)
        offset = now.utcoffset()
        return {
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "real_name": user.name,
                "deleted": user.deleted,
                "is_bot": user.is_bot,
                "tz": user.tz,
                "tz_label": now.tzname() or user.tz,
                "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
                "profile": {"real_name": user.name, "display_name": user.name},
            }
        }

    # -- views -------------------------------------------------------------------------------------

    def _checked_view(self, raw: Any) -> Json:
        if raw is None:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: view"])
        if not isinstance(raw, dict):
            raise SlackError("invalid_arguments", ["[ERROR] view must be a JSON object [json-pointer:/view]"])
        if blockkit.view_size_bytes(raw) > blockkit.VIEW_MAX_BYTES:
            raise SlackError("view_too_large")
        problems = blockkit.validate_view(raw)
        if problems:
            raise SlackError("invalid_arguments", problems)
        return raw

    def _trigger(self, args: Json) -> _Trigger:
        """Check a trigger_id without using it up: a refused call leaves it usable."""
        trigger_id = args.get("trigger_id")
        if not trigger_id:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            raise SlackError("invalid_trigger_id")
        if trigger.used:
            raise SlackError("exchanged_trigger_id")
        if self.clock() - trigger.created > TRIGGER_TTL_SECONDS:
            raise SlackError("expired_trigger_id")
        return trigger

    def _new_view(
        self, view: Json, *, previous_view_id: str | None = None, root_view_id: str | None = None
    ) -> Json:
        external_id = view.get("external_id", "")
        if external_id and any(v["external_id"] == external_id for v in self._views.values()):
            raise SlackError("duplicate_external_id")
        self._serial += 1
        view_id = f"V{self._serial:08d}"
        stored = {
            **copy.deepcopy(view),
            "id": view_id,
            "team_id": self.team_id,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": external_id,
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "clear_on_close": view.get("clear_on_close", False),
            "notify_on_close": view.get("notify_on_close", False),
            "root_view_id": root_view_id or view_id,
            "previous_view_id": previous_view_id,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        self._views[view_id] = stored
        return stored

    def _views_open(self, args: Json) -> Json:
        trigger = self._trigger(args)
        view = self._checked_view(args.get("view"))
        stored = self._new_view(view)
        trigger.used = True
        return {"view": copy.deepcopy(stored)}

    def _views_push(self, args: Json) -> Json:
        trigger = self._trigger(args)
        view = self._checked_view(args.get("view"))
        stored = self._new_view(view)
        trigger.used = True
        return {"view": copy.deepcopy(stored)}

    def _views_update(self, args: Json) -> Json:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise SlackError("invalid_arguments", ["[ERROR] one of view_id or external_id is required"])
        current = (
            self._views.get(view_id)
            if view_id
            else next((v for v in self._views.values() if v["external_id"] == external_id), None)
        )
        if current is None:
            raise SlackError("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        view = self._checked_view(args.get("view"))
        kept = {
            k: current[k] for k in ("id", "team_id", "root_view_id", "previous_view_id", "app_id", "bot_id")
        }
        updated = {
            **copy.deepcopy(view),
            **kept,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", current["external_id"]),
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
        }
        self._views[current["id"]] = updated
        return {"view": copy.deepcopy(updated)}

    def _views_publish(self, args: Json) -> Json:
        """Publish a user's Home tab: a `home` view only, for a user of the workspace."""
        user_id = args.get("user_id")
        if not user_id:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: user_id"])
        if user_id not in self._users:
            raise SlackError("user_not_found")
        view = self._checked_view(args.get("view"))
        if view.get("type") != "home":
            raise SlackError(
                "invalid_arguments",
                ["[ERROR] views.publish takes a view of type home [json-pointer:/view/type]"],
            )
        current = self._home_views.get(user_id)
        if args.get("hash") and current is not None and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        self._serial += 1
        stored = {
            **copy.deepcopy(view),
            "id": current["id"] if current else f"V{self._serial:08d}",
            "team_id": self.team_id,
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        self._home_views[user_id] = stored
        return {"view": copy.deepcopy(stored)}

    # -- files (the upload flow that replaced files.upload) ----------------------------------------

    def _files_get_upload_url_external(self, args: Json) -> Json:
        filename = args.get("filename")
        if not isinstance(filename, str) or not filename:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: filename"])
        try:
            length = int(args.get("length"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: length"]) from None
        if length <= 0:
            raise SlackError("missing_argument")  # docs: "typically only when the length provided is 0"
        self._serial += 1
        file_id = f"F{self._serial:08d}"
        self._files[file_id] = _File(file_id, filename, length)
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _serve_upload(self, file_id: str, request: BaseHTTPRequestHandler) -> tuple[int, str]:
        """The upload URL: the file's bytes, raw or as a multipart form (a `file` part)."""
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        self._arrive("files.upload_url")
        with self._progress:
            entry = self._files.get(file_id)
            if entry is None or entry.content is not None:
                status, text = 404, "not found"
            else:
                media_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if media_type == "multipart/form-data":
                    raw = self._multipart_file(request.headers.get("Content-Type", ""), raw)
                entry.content = raw
                if len(raw) != entry.length:
                    self._warn(f"upload of {entry.filename}: {len(raw)} bytes sent, {entry.length} announced")
                status, text = 200, f"OK - {len(raw)}"
            self._answered["files.upload_url"] += 1
            self._progress.notify_all()
        return status, text

    @staticmethod
    def _multipart_file(content_type: str, raw: bytes) -> bytes:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload
        return b""

    def _files_complete_upload_external(self, args: Json) -> Json:
        raw_files = args.get("files")
        try:
            listed = json.loads(raw_files) if isinstance(raw_files, str) else raw_files
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) for f in listed):
            raise SlackError("invalid_arguments", ["[ERROR] files must be a non-empty array of {id, title}"])
        entries = []
        for item in listed:
            entry = self._files.get(str(item.get("id")))
            if entry is None or entry.content is None or entry.channel_id is not None:
                raise SlackError("file_not_found")
            entries.append((entry, item.get("title")))
        channel_id = args.get("channel_id") or None
        if args.get("channels"):
            raise SlackError(
                "invalid_arguments", ["[ERROR] the fake models sharing into one channel_id only"]
            )
        thread_ts = args.get("thread_ts") or None
        if channel_id is None:
            if thread_ts:
                raise SlackError("invalid_arguments", ["[ERROR] thread_ts needs a channel"])
            for entry, title in entries:
                entry.title = title or entry.filename
            return {"files": [{"id": e.id, "name": e.filename, "title": e.title} for e, _ in entries]}
        channel = self._channel(channel_id)
        if not channel.is_member:
            raise SlackError("not_in_channel")  # sharing files needs membership, unlike chat:write.public
        if channel.is_archived:
            raise SlackError("is_archived")
        comment = args.get("initial_comment")
        message: Json = {
            "type": "message",
            "subtype": "file_share",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "team": self.team_id,
            "text": str(comment or ""),
            "files": [{"id": e.id, "name": e.filename, "title": title or e.filename} for e, title in entries],
        }
        ts = self._store_message(channel, message, thread_ts)
        for entry, title in entries:
            entry.title = title or entry.filename
            entry.channel_id = channel.id
            entry.thread_ts = message.get("thread_ts") or ts
        return {"files": copy.deepcopy(message["files"])}

    def _apps_connections_open(self, args: Json) -> Json:
        return {"url": self._socket.new_url()}

    # ==============================================================================================
    # response_url
    # ==============================================================================================

    def _serve_response_url(self, token: str, request: BaseHTTPRequestHandler) -> tuple[int, Json]:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"unparsable": raw.decode("utf-8", "replace")}
        fault = self._arrive("response_url")
        with self._lock:
            if fault is not None:
                status, _, answer = self._fault_answer(fault)
            else:
                status, answer = self._answer_response_url(token, body)
            error = None if answer.get("ok") else answer.get("error")
            self._responses.append(ResponseUrlPost(token, copy.deepcopy(body), status, error))
            self._answered["response_url"] += 1
            self._notify(self._responses[-1])
            self._progress.notify_all()
        return status, answer

    def _answer_response_url(self, token: str, body: Any) -> tuple[int, Json]:
        entry = self._response_urls.get(token)
        if entry is None:
            return 404, {"ok": False, "error": "no_service"}
        if self.clock() - entry.created > RESPONSE_URL_TTL_SECONDS:
            return 404, {"ok": False, "error": "expired_url"}
        if entry.uses >= RESPONSE_URL_MAX_USES:
            return 404, {"ok": False, "error": "used_url"}
        entry.uses += 1  # every delivered post counts, even one refused below (the stricter reading)
        if not isinstance(body, dict) or "unparsable" in body:
            return 400, {"ok": False, "error": "invalid_payload"}
        if _flag(body.get("delete_original")):
            self._delete_original(entry)
            return 200, {"ok": True}
        try:
            text, blocks, _ = self._content(body, surface="response_url")
        except SlackError as e:
            return 400, e.body()
        if _flag(body.get("replace_original")):
            self._replace_original(entry, text, blocks)
        return 200, {"ok": True}

    def _linked_message(self, entry: _ResponseUrl) -> Json | None:
        if entry.channel_id is None or entry.message_ts is None:
            return None
        return self._messages.get(entry.channel_id, {}).get(entry.message_ts)

    def _replace_original(self, entry: _ResponseUrl, text: str | None, blocks: list[Json] | None) -> None:
        message = self._linked_message(entry)
        if message is None:
            return
        message["text"] = text or ""
        if blocks:
            message["blocks"] = copy.deepcopy(blocks)
        else:
            message.pop("blocks", None)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}

    def _delete_original(self, entry: _ResponseUrl) -> None:
        if self._linked_message(entry) is not None and entry.channel_id and entry.message_ts:
            del self._messages[entry.channel_id][entry.message_ts]
