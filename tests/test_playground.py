"""`distill-bot playground` without a browser: the command, its data across runs, its guards."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.fake_slack import payloads
from bot.playground.workspace import Playground
from tests.checklist_flow import TEMPLATE, is_ticked, parent_of, phase_messages
from tests.processes import bot_environment, free_port, run_cli, wait_for
from tests.support import http

CHANNEL = "C0ROUTER"
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


def tick(playground: Playground, item_key: str, user: str) -> None:
    """Tick an item the way the page does: the checkbox as drawn, the selection after the click."""
    message = phase_messages(playground.fake, CHANNEL)[0]
    block = next(
        b for b in message["blocks"] if (b.get("accessory") or {}).get("action_id") == f"item:{item_key}"
    )
    checkboxes = block["accessory"]
    action = payloads.checkbox_action(block, checkboxes, [checkboxes["options"][0]])
    assert playground.act(user, CHANNEL, message["ts"], action) == {"ok": True, "status": 200}


def eventually(condition: Callable[[], Any], what: str) -> Any:
    return wait_for(condition, timeout=30, what=what)


def test_a_second_run_continues_where_the_first_stopped(tmp_path: Path) -> None:
    database = tmp_path / "playground.db"
    items = TEMPLATE.phase(1).items
    first = Playground(database, start=WEDNESDAY_MORNING).start()
    try:
        assert first.command("UALICE", CHANNEL, "/distill start Router")["ok"]
        eventually(lambda: len(first.fake.messages(CHANNEL)) == 2, "the parent and Phase 1 messages")
        tick(first, items[0].key, "UALICE")
        eventually(lambda: is_ticked(phase_messages(first.fake, CHANNEL)[0], items[0].key), "the tick")
        first.move_clock(timedelta(days=1))
        moved_to = first.clock()
        parent_ts = parent_of(first.fake, CHANNEL)["ts"]
    finally:
        first.stop()

    second = Playground(database).start()
    try:
        assert parent_of(second.fake, CHANNEL)["ts"] == parent_ts, "the workspace's messages were kept"
        assert second.clock() >= moved_to, "time does not go back to the wall clock"
        tick(second, items[1].key, "UBOB")
        phase = eventually(
            lambda: next(
                (m for m in phase_messages(second.fake, CHANNEL) if is_ticked(m, items[1].key)), None
            ),
            "the second run's tick on the first run's message",
        )
        assert is_ticked(phase, items[0].key), "the first run's tick is still there"
        updates = second.fake.calls_to("chat.update")
        assert updates and all(call.ok for call in updates), [call.error for call in updates]
    finally:
        second.stop()


def test_the_page_api_takes_json_only(tmp_path: Path) -> None:
    """Another site open in the same browser could post a form or text/plain to 127.0.0.1 without
    asking; JSON needs the browser to ask first (CORS), and the playground never says yes."""
    playground = Playground(tmp_path / "playground.db").start()
    try:
        body = json.dumps({"user": "UALICE", "channel": CHANNEL, "text": "/distill start Forged"}).encode()
        forged = http("POST", playground.url + "/api/command", body, {"Content-Type": "text/plain"})
        assert forged.status == 400
        assert playground.fake.messages(CHANNEL) == []
        sent = http("POST", playground.url + "/api/command", body, {"Content-Type": "application/json"})
        assert sent.status == 200
        eventually(lambda: playground.fake.messages(CHANNEL), "the project started from the page's JSON")
    finally:
        playground.stop()


def test_plain_distill_bot_without_slack_settings_suggests_the_playground(tmp_path: Path) -> None:
    env = bot_environment(None, f"sqlite:///{tmp_path / 'x.db'}")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        env.pop(name)
    result = run_cli([], env, cwd=tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "SLACK_BOT_TOKEN: Field required" in line
    assert "distill-bot playground" in line


def test_the_playground_command_serves_the_page_and_keeps_its_data(tmp_path: Path) -> None:
    port = free_port()
    env = bot_environment(None, "sqlite:///unused.db")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"):
        env.pop(name)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "playground", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first_line, first_line
        page = http("GET", f"http://127.0.0.1:{port}/")
        assert page.status == 200 and "playground.js" in page.body
        script = http("GET", f"http://127.0.0.1:{port}/static/playground.js")
        assert script.status == 200 and "renderBlocks" in script.body
        assert http("GET", f"http://127.0.0.1:{port}/healthz").status == 200
        state = json.loads(http("GET", f"http://127.0.0.1:{port}/api/state?user=UALICE").body)
        names = ["support-router", "search-ranking", "launch-plans", "general"]
        assert [c["name"] for c in state["channels"]] == names
        state = json.loads(http("GET", f"http://127.0.0.1:{port}/api/state?user=UBOB").body)
        assert [c["name"] for c in state["channels"]] == [n for n in names if n != "launch-plans"]
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    database = tmp_path / "distill-playground.db"
    assert database.exists(), "the default database is in the working directory"
    with sqlite3.connect(database) as connection:
        keys = {key for (key,) in connection.execute("SELECT key FROM playground_state")}
    assert keys == {"slack", "clock_offset_seconds"}, "the workspace was saved on the way out"


def test_a_shared_file_opens_as_plain_text_in_this_run_and_the_next(tmp_path: Path) -> None:
    playground = Playground(tmp_path / "playground.db", start=WEDNESDAY_MORNING).start()
    try:
        assert playground.command("UALICE", CHANNEL, "/distill start <script>alert(1)</script>")["ok"]
        eventually(lambda: len(playground.fake.messages(CHANNEL)) == 2, "the parent and Phase 1 messages")
        assert playground.command("UALICE", CHANNEL, "/distill export")["ok"]
        files = eventually(lambda: playground.fake.files, "the exported files")
        report = next(f for f in files if f["filename"].endswith("-report.md"))

        opened = http("GET", f"{playground.url}/files/{report['id']}")
        assert opened.status == 200
        assert opened.body.encode() == report["content"]
        assert "# Distillation report: <script>alert(1)</script>" in opened.body  # as typed, as text
        assert opened.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert opened.headers["X-Content-Type-Options"] == "nosniff"
        assert opened.headers["Content-Security-Policy"].startswith("sandbox")

        for unknown in ("F99999999", "", "../state", report["id"] + "x"):
            missing = http("GET", f"{playground.url}/files/{unknown}")
            assert (missing.status, missing.headers["Content-Type"]) == (404, "text/plain; charset=utf-8")
    finally:
        playground.stop()

    again = Playground(tmp_path / "playground.db").start()
    try:  # the next run still shows the upload's message, and its files still open
        reopened = http("GET", f"{again.url}/files/{report['id']}")
        assert (reopened.status, reopened.body.encode()) == (200, report["content"])
    finally:
        again.stop()


def test_a_private_channel_and_its_project_are_for_its_members(tmp_path: Path) -> None:
    playground = Playground(tmp_path / "playground.db", start=WEDNESDAY_MORNING).start()
    launch = "C0LAUNCH"
    try:
        assert playground.command("UCAROL", launch, "/distill start Launch student")["ok"]
        eventually(lambda: len(playground.fake.messages(launch)) == 2, "the parent and Phase 1 messages")
        assert playground.command("UALICE", CHANNEL, "/distill start Router")["ok"]
        eventually(lambda: len(playground.fake.messages(CHANNEL)) == 2, "the router's messages")

        def home_of(user: str) -> str:
            before = len(playground.fake.calls_to("views.publish"))
            assert playground.open_home(user)["ok"]
            eventually(lambda: len(playground.fake.calls_to("views.publish")) > before, "the Home tab")
            return json.dumps(playground.state(user)["home"])

        assert "Launch student" in home_of("UCAROL") and "Router" in home_of("UCAROL")
        bob = home_of("UBOB")
        assert "Router" in bob and "Launch student" not in bob and launch not in bob
        # Nothing reaches the bot from a channel Bob is not in, as in Slack.
        refused = http(
            "POST",
            f"{playground.url}/api/command",
            json.dumps({"user": "UBOB", "channel": launch, "text": "/distill status"}).encode(),
            {"Content-Type": "application/json"},
        )
        assert refused.status == 400 and "no such channel" in refused.body
    finally:
        playground.stop()
