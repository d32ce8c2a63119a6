"""The playground: the real bot, the stand-in Slack and a browser page, in one process.

The page plays the Slack client. What a person does there (a command, a click, a submitted
form) becomes the payload Slack would send (bot/fake_slack/payloads.py), signed with the
signing secret and posted to the bot's own `/slack/events` over HTTP. What the bot does goes
through its Web API client to the stand-in Slack (bot/fake_slack), which keeps Slack's rules;
the page shows the stand-in's workspace. Only what Slack's client would know is kept here: who
each trigger and response_url belongs to, which modals each person has open, and ephemeral
messages (gone after a restart, as in Slack).
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import SecretStr

from bot.app import DistillBot, build_bot
from bot.core.config import Settings
from bot.fake_slack import Call, FakeSlack, ResponseUrlPost, payloads
from bot.playground.clock import MovableClock
from bot.playground.store import PlaygroundStore
from bot.rendering.mrkdwn import escape
from bot.server import EVENTS_PATH, HttpServer, make_wsgi_app
from storage.engine import make_engine
from storage.migrate import upgrade

log = logging.getLogger(__name__)

Json = dict[str, Any]

TEAM = "T0001"
BOT_NAME = "Distill Bot"


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    title: str


PEOPLE = (
    Person("UALICE", "Alice", "ML lead"),
    Person("UBOB", "Bob", "Data engineer"),
    Person("UCAROL", "Carol", "Research scientist"),
    Person("UDAN", "Dan", "Product manager"),
)


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    topic: str
    members: tuple[str, ...] | None = None  # a private channel's people; None: public, everyone in it

    @property
    def is_private(self) -> bool:
        return self.members is not None

    def has_member(self, user_id: str) -> bool:
        return self.members is None or user_id in self.members


CHANNELS = (
    Channel("C0ROUTER", "support-router", "Distilling the support-ticket router"),
    Channel("C0RANKING", "search-ranking", "The search ranker's student model"),
    # Private: only Alice and Carol see it, its project, and that project on their Home tab.
    Channel("C0LAUNCH", "launch-plans", "The next student's launch (Alice and Carol)", ("UALICE", "UCAROL")),
    Channel("C0GENERAL", "general", "Everyone"),
)
# Web API methods after which the workspace has changed and is saved.
_CHANGING_METHODS = ("chat.", "files.", "views.publish", "conversations.join")
SAVE_EVERY_SECONDS = 0.5
# The longest a page's request for news waits before answering "nothing new".
LONG_POLL_SECONDS = 20.0


class PlaygroundError(Exception):
    """Something the page asked for that cannot be done (unknown user, message or view)."""


@dataclass
class _Ephemeral:
    id: int
    user: str
    channel: str
    thread_ts: str | None
    text: str
    blocks: list[Json]
    at: float

    def as_json(self) -> Json:
        return {
            "id": self.id,
            "channel": self.channel,
            "thread_ts": self.thread_ts,
            "text": self.text,
            "blocks": self.blocks,
            "ts": f"{self.at:.6f}",
        }


class Playground:
    def __init__(
        self,
        database: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start: datetime | None = None,
        nudge_poll_seconds: int = 30,
    ) -> None:
        self.database = database
        self.engine = make_engine(f"sqlite:///{database}")
        upgrade(self.engine)
        self.store = PlaygroundStore(self.engine)
        saved = self.store.load()
        offset = timedelta(seconds=float(saved.get("clock_offset_seconds", 0)))
        self.clock = MovableClock(offset, start=start)

        self.fake = FakeSlack(team_id=TEAM, clock=self.clock.timestamp).start()
        for person in PEOPLE:
            self.fake.add_user(person.id, person.name)
        for channel in CHANNELS:
            self.fake.add_channel(
                channel.id, channel.name, is_private=channel.is_private, members=channel.members
            )
        if "slack" in saved:
            self.fake.restore(saved["slack"])

        self._lock = threading.Condition()
        self._revision = 0
        self._waiting = 0  # pages' requests waiting for news
        self._dirty = False
        self._ids = itertools.count(1)
        self._trigger_users: dict[str, str] = {}
        self._response_urls: dict[str, tuple[str, str, str | None]] = {}
        self._modals: dict[str, list[str]] = {}
        self._view_errors: dict[str, Json] = {}
        self._homes: dict[str, Json] = {}
        self._ephemerals: list[_Ephemeral] = []
        self.fake.observe(self._on_slack)

        self._signing_secret = secrets.token_hex(16)
        self.settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            slack_bot_token=SecretStr(self.fake.bot_token),
            slack_signing_secret=SecretStr(self._signing_secret),
            slack_api_url=self.fake.api_url,
            database_url=f"sqlite:///{database}",
            host=host,
            nudge_poll_seconds=nudge_poll_seconds,
        )
        self.bot: DistillBot = build_bot(self.settings, engine=self.engine, clock=self.clock)

        from bot.playground.web import make_playground_app  # the page's routes need this class

        bot_app = make_wsgi_app(self.bot.app, self.engine, self._signing_secret, requests=self.bot.requests)
        self.server = HttpServer(make_playground_app(self, bot_app), host, port)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler: BackgroundScheduler | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def start(self) -> Playground:
        """Serve in background threads (the tests); `serve_forever` serves in this one (the CLI)."""
        self._start_background()
        thread = threading.Thread(target=self.server.serve_forever, name="playground-http", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self._start_background()
        try:
            self.server.serve_forever()
        finally:
            self.stop()

    def _start_background(self) -> None:
        # The same background work as `distill-bot` itself: repair, nudges, waiver expiry.
        from bot.cli import start_background_work

        self._scheduler = start_background_work(self.bot, self.settings)
        saver = threading.Thread(target=self._keep_saving, name="playground-save", daemon=True)
        saver.start()
        self._threads.append(saver)

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._lock:  # answer the pages' waiting requests before the server closes under them
            self._lock.notify_all()
            self._lock.wait_for(lambda: self._waiting == 0, timeout=5)
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        # A page's request that was answered just now may still be writing when the server
        # closes; waitress then logs a traceback for a reply nobody waits for any more.
        waitress_log = logging.getLogger("waitress")
        level = waitress_log.level
        waitress_log.setLevel(logging.CRITICAL)
        try:
            self.server.shutdown()
        finally:
            waitress_log.setLevel(level)
        for thread in self._threads:
            thread.join(timeout=10)
        self.save()
        self.fake.stop()
        self.bot.clicks.close()
        self.engine.dispose()

    def save(self) -> None:
        with self._lock:
            self._dirty = False
        self.store.save(
            {"slack": self.fake.snapshot(), "clock_offset_seconds": self.clock.offset.total_seconds()}
        )

    def _keep_saving(self) -> None:
        while not self._stopping.wait(SAVE_EVERY_SECONDS):
            with self._lock:
                dirty = self._dirty
            if dirty:
                try:
                    self.save()
                except Exception:
                    log.exception("saving the playground's workspace failed; retrying")

    # -- what the stand-in Slack tells us ----------------------------------------------------------

    def _on_slack(self, event: Call | ResponseUrlPost) -> None:
        """Runs under the fake's lock for every answered call: note what the page must show."""
        with self._lock:
            if isinstance(event, ResponseUrlPost):
                self._on_response_url(event)
            elif event.ok:
                self._on_call(event)
            self._revision += 1
            self._lock.notify_all()

    def _on_response_url(self, post: ResponseUrlPost) -> None:
        self._dirty = True
        origin = self._response_urls.get(post.token)
        body = post.body
        if not post.ok or origin is None or body.get("delete_original") or body.get("replace_original"):
            return  # replacing or deleting is done by the fake, on the message itself
        user, channel, thread_ts = origin
        self._add_ephemeral(user, channel, thread_ts, str(body.get("text") or ""), body.get("blocks"))

    def _on_call(self, call: Call) -> None:
        if call.method.startswith(_CHANGING_METHODS):
            self._dirty = True
        if call.method == "chat.postEphemeral":
            args = call.args
            self._add_ephemeral(
                str(args.get("user")),
                str(call.response.get("channel") or args.get("channel")),
                args.get("thread_ts") or None,
                str(args.get("text") or ""),
                args.get("blocks"),
            )
        elif call.method in ("views.open", "views.push"):
            user = self._trigger_users.get(str(call.args.get("trigger_id")))
            if user is not None:
                self._modals.setdefault(user, []).append(call.response["view"]["id"])
        elif call.method == "views.publish":
            self._homes[str(call.args.get("user_id"))] = call.response["view"]

    def _add_ephemeral(self, user: str, channel: str, thread_ts: str | None, text: str, blocks: Any) -> None:
        self._ephemerals.append(
            _Ephemeral(
                next(self._ids),
                user,
                channel,
                thread_ts,
                text,
                blocks if isinstance(blocks, list) else [],
                self.clock.timestamp(),
            )
        )

    def _changed(self) -> None:
        with self._lock:
            self._revision += 1
            self._lock.notify_all()

    # -- what the page shows -----------------------------------------------------------------------

    def state(self, user: str, since: int | None = None, wait: float = LONG_POLL_SECONDS) -> Json:
        """Everything `user`'s client shows; waits (up to `wait` seconds) for news after `since`."""
        person = self._person(user)
        with self._lock:
            if since is not None and not self._stopping.is_set():
                self._waiting += 1
                try:
                    self._lock.wait_for(
                        lambda: self._revision != since or self._stopping.is_set(), timeout=wait
                    )
                finally:
                    self._waiting -= 1
                    self._lock.notify_all()
            revision = self._revision
            ephemerals = [e.as_json() for e in self._ephemerals if e.user == person.id]
            stack = list(self._modals.get(person.id, []))
            home = self._homes.get(person.id)
        views = {view["id"]: view for view in self.fake.views} if stack else {}
        modal = views.get(stack[-1]) if stack else None
        now = self.clock()
        return {
            "revision": revision,
            "now": now.isoformat(),
            "moved": self.clock.offset > timedelta(minutes=1),
            "me": person.id,
            "bot": {"id": self.fake.bot_user_id, "name": BOT_NAME},
            "people": [vars(p) for p in PEOPLE],
            "channels": [  # the ones this person is in, as Slack's sidebar shows
                {
                    "id": channel.id,
                    "name": channel.name,
                    "topic": channel.topic,
                    "private": channel.is_private,
                    "messages": self.fake.messages(channel.id),
                }
                for channel in CHANNELS
                if channel.has_member(person.id)
            ],
            "ephemerals": ephemerals,
            "modal": None
            if modal is None
            else {"view": modal, "errors": self._view_errors.get(modal["id"], {}), "depth": len(stack)},
            "home": home,
        }

    def file_content(self, file_id: str) -> bytes | None:
        """The bytes of a file shared in the workspace (what opening it in Slack shows), or None."""
        return next((f["content"] for f in self.fake.files if f["id"] == file_id), None)

    # -- what the page does ------------------------------------------------------------------------

    def command(self, user: str, channel: str, text: str) -> Json:
        """What the message box does with `text`: a `/distill` command goes to the bot; any other
        text is posted as the person's message."""
        person = self._person(user)
        channel_name = self._channel_name(person, channel)
        text = text.strip()
        if not text:
            return {"ok": True}
        if not text.startswith("/"):
            self.fake.add_message(channel, escape(text), user=person.id)
            self._changed()
            return {"ok": True}
        command, _, argument = text.partition(" ")
        if command != "/distill":
            self._local_ephemeral(person.id, channel, None, f"`{command[:40]}` is not a valid command.")
            return {"ok": True}
        payload = payloads.command_payload(
            self.fake,
            escape(argument.strip()),  # Slack sends what was typed with & < > escaped
            channel,
            person.id,
            TEAM,
            channel_name=channel_name,
            user_name=person.name.lower(),
        )
        self._remember(payload, person.id, channel, None)
        status, body = self._send(
            urllib.parse.urlencode(payload).encode(), "application/x-www-form-urlencoded"
        )
        if status != 200:
            self._local_ephemeral(person.id, channel, None, f'/distill failed with the error "{status}".')
        elif isinstance(body, dict) and body.get("text"):
            # A command's acknowledgement may carry the answer, shown to the person who typed it.
            self._local_ephemeral(person.id, channel, None, str(body["text"]), body.get("blocks"))
        return {"ok": status == 200, "status": status}

    def act(
        self, user: str, channel: str, message_ts: str, action: Json, *, ephemeral_id: int | None = None
    ) -> Json:
        """A click on a button or checkbox of a message (or of an ephemeral message)."""
        person = self._person(user)
        channel_name = self._channel_name(person, channel)
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            raise PlaygroundError("an action needs an action_id")
        message: Json | None
        if ephemeral_id is None:
            try:
                message = self.fake.message(channel, message_ts)
            except KeyError:
                raise PlaygroundError("that message is gone") from None
            thread_ts = message.get("thread_ts")
        else:
            message, thread_ts = None, self._ephemeral_thread(ephemeral_id)
        payload = payloads.block_actions_payload(
            self.fake,
            action={**action, "action_ts": f"{time.time():.6f}"},
            channel=channel,
            user=person.id,
            team=TEAM,
            message=message,
            message_ts=message_ts,
            thread_ts=thread_ts,
            channel_name=channel_name,
            user_name=person.name.lower(),
        )
        self._remember(payload, person.id, channel, thread_ts)
        status, _ = self._interact(payload)
        if status != 200:
            self._local_ephemeral(person.id, channel, thread_ts, f"The app did not answer (HTTP {status}).")
        return {"ok": status == 200, "status": status}

    def submit(self, user: str, view_id: str, values: dict[str, str]) -> Json:
        """The modal's submit button: Slack's `view_submission`, and what the bot answers."""
        person = self._person(user)
        view = self._open_view(person.id, view_id)
        payload = payloads.view_submission_payload(self.fake, view, values, person.id, TEAM)
        self._trigger_users[payload["trigger_id"]] = person.id
        status, body = self._interact(payload)
        if status != 200:
            return {"ok": False, "status": status}
        answer = body if isinstance(body, dict) else {}
        action = answer.get("response_action")
        with self._lock:
            if action == "errors":
                self._view_errors[view_id] = dict(answer.get("errors") or {})
            elif action == "clear":
                self._modals.pop(person.id, None)
            else:
                self._close(person.id, view_id)
            self._revision += 1
            self._lock.notify_all()
        return {"ok": True, "response_action": action, "errors": answer.get("errors") or {}}

    def close_modal(self, user: str, view_id: str) -> Json:
        person = self._person(user)
        self._open_view(person.id, view_id)
        with self._lock:
            self._close(person.id, view_id)
            self._revision += 1
            self._lock.notify_all()
        return {"ok": True}

    def open_home(self, user: str) -> Json:
        """The person opened the app's Home tab: Slack sends `app_home_opened`."""
        person = self._person(user)
        event = {"type": "app_home_opened", "user": person.id, "channel": "D" + person.id, "tab": "home"}
        body = json.dumps(payloads.event_callback(TEAM, event)).encode()
        status, _ = self._send(body, "application/json")
        return {"ok": status == 200, "status": status}

    def dismiss(self, user: str, ephemeral_id: int) -> Json:
        person = self._person(user)
        with self._lock:
            self._ephemerals = [
                e for e in self._ephemerals if not (e.id == ephemeral_id and e.user == person.id)
            ]
            self._revision += 1
            self._lock.notify_all()
        return {"ok": True}

    def move_clock(self, delta: timedelta) -> Json:
        """Move time forward, then do at once what the scheduler's next pass would do."""
        self.clock.advance(delta)
        with self._lock:
            self._dirty = True
        self._changed()
        self.bot.governance.expire_waivers()
        sent = self.bot.nudges.run_due()
        return {"ok": True, "now": self.clock().isoformat(), "nudges_sent": sent}

    # -- helpers -----------------------------------------------------------------------------------

    def _person(self, user: str) -> Person:
        person = next((p for p in PEOPLE if p.id == user), None)
        if person is None:
            raise PlaygroundError(f"no such person: {user[:20]!r}")
        return person

    def _channel_name(self, person: Person, channel: str) -> str:
        """The name of a channel `person` is in: Slack sends nothing from a channel one is not in."""
        found = next((c for c in CHANNELS if c.id == channel and c.has_member(person.id)), None)
        if found is None:
            raise PlaygroundError(f"no such channel: {channel[:20]!r}")
        return found.name

    def _ephemeral_thread(self, ephemeral_id: int) -> str | None:
        with self._lock:
            found = next((e for e in self._ephemerals if e.id == ephemeral_id), None)
        if found is None:
            raise PlaygroundError("that message is gone")
        return found.thread_ts

    def _open_view(self, user: str, view_id: str) -> Json:
        with self._lock:
            if view_id not in self._modals.get(user, []):
                raise PlaygroundError("that form is not open")
        view = next((v for v in self.fake.views if v["id"] == view_id), None)
        if view is None:
            raise PlaygroundError("that form is gone")
        return view

    def _close(self, user: str, view_id: str) -> None:
        stack = self._modals.get(user, [])
        if view_id in stack:
            del stack[stack.index(view_id) :]
        self._view_errors.pop(view_id, None)

    def _remember(self, payload: Json, user: str, channel: str, thread_ts: str | None) -> None:
        """Note whose trigger and response_url these are, so their modals and replies reach them."""
        token = urllib.parse.urlsplit(str(payload["response_url"])).path.rsplit("/", 1)[-1]
        with self._lock:
            self._trigger_users[str(payload["trigger_id"])] = user
            self._response_urls[token] = (user, channel, thread_ts)

    def _local_ephemeral(
        self, user: str, channel: str, thread_ts: str | None, text: str, blocks: Any = None
    ) -> None:
        with self._lock:
            self._add_ephemeral(user, channel, thread_ts, text, blocks)
            self._revision += 1
            self._lock.notify_all()

    def _interact(self, payload: Json) -> tuple[int, Any]:
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self._send(body, "application/x-www-form-urlencoded")

    def _send(self, body: bytes, content_type: str) -> tuple[int, Any]:
        """Post to the bot's endpoint the way Slack does: signed with the signing secret."""
        timestamp = str(int(time.time()))  # Slack's clock, not the playground's: signatures age in real time
        signature = payloads.sign(body, timestamp, self._signing_secret)
        request = urllib.request.Request(
            self.url + EVENTS_PATH,
            data=body,
            method="POST",
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except OSError as error:
            log.warning("the bot did not answer: %s", error)
            return 0, None
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")


def default_database() -> Path:
    return Path.cwd() / "distill-playground.db"


def format_now(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%a %d %b %Y %H:%M UTC")
