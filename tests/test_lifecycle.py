"""Stop (a win in Phase 1), reopen a passed phase, rollout stages: through the real endpoint."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot.fake_slack import FakeSlack
from storage import queries
from storage.models import Outcome, ProjectStatus
from tests.checklist_flow import (
    PASSING_EVALUATION,
    TEMPLATE,
    block_text,
    fill_form,
    is_ticked,
    parent_of,
    phase_messages,
    replies_of,
    submit_view,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import RunningBot

CH = PROJECT_CHANNEL


def command(bot: RunningBot, fake: FakeSlack, text: str, user: str = "UALICE") -> str:
    """Run a slash command; returns the private reply it got, if any."""
    before = len(fake.responses)
    assert bot.slack.command(text, user=user).status == 200
    bot.settle()
    replies = fake.responses[before:]
    return replies[-1].body.get("text", "") if replies else ""


def start(bot: RunningBot, fake: FakeSlack) -> None:
    assert command(bot, fake, "start Router") == ""


def to_phase(bot: RunningBot, fake: FakeSlack, number: int) -> None:
    start(bot, fake)
    for earlier in range(1, number):
        tick_phase(bot, fake, CH, earlier)
        bot.clock.advance(timedelta(minutes=1))


def phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    return fake.message(CH, phase_messages(fake, CH)[number - 1]["ts"])


def project_row(bot: RunningBot) -> Any:
    with Session(bot.engine) as session:
        project = queries.latest_channel_project(session, "T0001", CH)
        assert project is not None
        return project


def ticked_keys(bot: RunningBot) -> set[str]:
    with Session(bot.engine) as session:
        return {tick.item_key for tick in queries.list_ticks(session, project_row(bot).id)}


def click(
    bot: RunningBot,
    fake: FakeSlack,
    number: int,
    key: str,
    user: str = "UALICE",
    stale: dict[str, Any] | None = None,
) -> str:
    """Tick an item on its phase message as Slack shows it, or on a `stale` copy a client kept."""
    before = len(fake.responses)
    message = stale or phase(fake, number)
    bot.slack.click(CH, message["ts"], key, selected=True, user=user, message=message)
    bot.settle()
    replies = fake.responses[before:]
    return replies[-1].body.get("text", "") if replies else ""


def open_stop_form(bot: RunningBot, fake: FakeSlack, user: str = "UALICE") -> dict[str, Any]:
    opened = len(fake.views)
    assert command(bot, fake, "stop", user=user) == ""
    assert len(fake.views) == opened + 1, "the stop form did not open"
    return fake.views[-1]


def has_checkboxes(message: dict[str, Any]) -> bool:
    return any((b.get("accessory") or {}).get("type") == "checkboxes" for b in message["blocks"])


# --- stop -------------------------------------------------------------------------------------


def test_stop_in_phase_one_is_recorded_and_shown_as_a_win(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, fake_slack)
    before_stop = phase(fake_slack, 1)
    form = open_stop_form(bot, fake_slack)
    assert any(b.get("block_id") == "outcome" for b in form["blocks"])  # Phase 1 offers the win

    assert submit_view(bot, form, {"outcome": "win"}).status == 200
    project = project_row(bot)
    assert (project.status, project.outcome, project.stopped_by) == (
        ProjectStatus.STOPPED,
        Outcome.WIN,
        "UALICE",
    )
    assert project.closed_at is not None

    parent = block_text(parent_of(fake_slack, CH))
    assert "a cheaper option cleared our targets" in parent and "win" in parent
    assert not has_checkboxes(phase(fake_slack, 1))  # read-only now
    assert any("That is a win" in block_text(m) for m in replies_of(fake_slack, CH))

    # No ticks...
    first = TEMPLATE.phase(1).items[0].key
    assert "stopped" in click(bot, fake_slack, 1, first, stale=before_stop)
    assert ticked_keys(bot) == set()
    # ...and no nudges, however long the team stays quiet.
    bot.clock.advance(timedelta(days=10))
    assert bot.run_nudges() == 0
    # The channel may start a new project; the stopped one keeps its parent message.
    assert command(bot, fake_slack, "start Second try") == ""
    parents = [m for m in fake_slack.messages(CH) if m.get("thread_ts") in (None, m["ts"])]
    assert len(parents) == 2


def test_stop_after_phase_one_needs_a_reason_and_shows_it_escaped(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 2)
    form = open_stop_form(bot, fake_slack)
    assert not any(b.get("block_id") == "outcome" for b in form["blocks"])  # no win past Phase 1

    refused = submit_view(bot, form, {"reason": ""}).json()
    assert refused["response_action"] == "errors" and set(refused["errors"]) == {"reason"}
    # A forged "win" outside Phase 1 is refused too, and nothing is stored.
    forged = submit_view(bot, form, {"outcome": "win", "reason": ""})
    assert forged.json()["response_action"] == "errors"
    assert project_row(bot).status == ProjectStatus.ACTIVE

    assert submit_view(bot, form, {"reason": "Budget moved to <!channel> & search"}).status == 200
    project = project_row(bot)
    assert (project.outcome, project.outcome_reason) == (
        Outcome.STOPPED,
        "Budget moved to <!channel> & search",
    )
    parent = block_text(parent_of(fake_slack, CH))
    assert "Stopped" in parent and "Budget moved to &lt;!channel&gt; &amp; search" in parent
    assert "<!channel>" not in parent


def test_only_owners_stop(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, fake_slack)
    opened = len(fake_slack.views)
    assert "Only the project's owners may stop" in command(bot, fake_slack, "stop", user="UBOB")
    assert len(fake_slack.views) == opened
    # A submission forged by a non-owner (the form opened for an owner) changes nothing.
    form = open_stop_form(bot, fake_slack)
    answer = submit_view(bot, form, {"outcome": "win"}, user="UBOB").json()
    assert answer["response_action"] == "errors"
    assert "owners" in next(iter(answer["errors"].values()))
    assert project_row(bot).status == ProjectStatus.ACTIVE


# --- reopen -----------------------------------------------------------------------------------


def test_reopen_moves_ticks_to_the_record_and_locks_later_phases(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 4)
    phase_three = {item.key for item in TEMPLATE.phase(3).items}
    assert phase_three <= ticked_keys(bot)

    assert "only a passed phase" in command(bot, fake_slack, "reopen 4 why not")
    assert "Say why" in command(bot, fake_slack, "reopen 3")
    phase_four_before = phase(fake_slack, 4)
    assert "Phase 3" in command(bot, fake_slack, "reopen 3 the data had leaked test prompts")

    # The ticks are gone from the checklist but kept in the record.
    assert not phase_three & ticked_keys(bot)
    with Session(bot.engine) as session:
        events = queries.list_tick_events(session, project_row(bot).id)
    assert {e.item_key for e in events if e.action == "cleared"} == phase_three
    assert project_row(bot).current_phase == 3
    # Phase 3 shows its checkboxes again, unticked; Phase 4 is locked; Phase 2 stays read-only.
    assert has_checkboxes(phase(fake_slack, 3))
    assert not any(is_ticked(phase(fake_slack, 3), key) for key in phase_three)
    assert not has_checkboxes(phase(fake_slack, 4))
    assert "Locked until Phase 3" in block_text(phase(fake_slack, 4))
    assert "Phase 3 of 7" in block_text(parent_of(fake_slack, CH))
    assert any("reopened *Phase 3" in block_text(m) for m in replies_of(fake_slack, CH))

    # The gate: Phase 4 takes no ticks until Phase 3 passes again.
    first_of_four = TEMPLATE.phase(4).items[0].key
    assert "locked" in click(bot, fake_slack, 4, first_of_four, stale=phase_four_before)
    assert first_of_four not in ticked_keys(bot)
    notices_before = [m for m in replies_of(fake_slack, CH) if "Phase 3 complete" in block_text(m)]
    tick_phase(bot, fake_slack, CH, 3)
    assert project_row(bot).current_phase == 4
    assert has_checkboxes(phase(fake_slack, 4))
    notices_after = [m for m in replies_of(fake_slack, CH) if "Phase 3 complete" in block_text(m)]
    assert len(notices_after) == len(notices_before) + 1  # announced again, at the bottom of the thread
    assert click(bot, fake_slack, 4, first_of_four) == ""
    assert first_of_four in ticked_keys(bot)


def test_reopening_evaluation_needs_a_new_evaluation_then_ships_again(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 8)  # every phase passed: shipped
    assert project_row(bot).status == ProjectStatus.SHIPPED

    command(bot, fake_slack, "reopen 6 the student was retrained")
    project = project_row(bot)
    assert (project.status, project.current_phase) == (ProjectStatus.ACTIVE, 6)
    # The evaluation recorded before the reopening no longer counts.
    assert "evaluation" in click(bot, fake_slack, 6, "gap-to-teacher")
    assert "gap-to-teacher" not in ticked_keys(bot)
    assert "Locked until Phase 6" in block_text(phase(fake_slack, 7))

    # A new evaluation and the phase's ticks pass it again; Phase 7's items still hold, so it ships.
    assert (
        fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", PASSING_EVALUATION).status
        == 200
    )
    for item in TEMPLATE.phase(6).items:
        assert click(bot, fake_slack, 6, item.key) == ""
    project = project_row(bot)
    assert project.status == ProjectStatus.SHIPPED
    assert "Shipped" in block_text(parent_of(fake_slack, CH))


def test_only_owners_reopen(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 3)
    assert "Only the project's owners may reopen" in command(
        bot, fake_slack, "reopen 2 bars were wrong", user="UBOB"
    )
    assert project_row(bot).current_phase == 3
    assert command(bot, fake_slack, "owners add <@UBOB>", user="UALICE")
    assert "open again" in command(bot, fake_slack, "reopen 1 scope changed", user="UBOB")
    assert project_row(bot).current_phase == 1


# --- rollout ----------------------------------------------------------------------------------


def test_rollout_stages_in_phase_seven_and_the_gradual_item(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 6)
    assert "Phase 7" in command(bot, fake_slack, "rollout 5")  # too early
    assert project_row(bot).rollout_stage is None
    tick_phase(bot, fake_slack, CH, 6)

    assert "Roll out gradually first" in click(bot, fake_slack, 7, "gradual-rollout")
    assert "Only the project's owners" in command(bot, fake_slack, "rollout 25", user="UBOB")
    assert "Use `/distill rollout" in command(bot, fake_slack, "rollout 50")
    command(bot, fake_slack, "rollout shadow")
    assert "Roll out gradually first" in click(bot, fake_slack, 7, "gradual-rollout")  # shadow is not partial

    bot.clock.advance(timedelta(days=2))
    assert "25% of traffic" in command(bot, fake_slack, "rollout 25%")
    project = project_row(bot)
    assert (project.rollout_stage, project.rollout_since) == ("25", bot.clock())
    parent = block_text(parent_of(fake_slack, CH))
    assert "Rollout: *25% of traffic* since <!date^" in parent
    assert click(bot, fake_slack, 7, "gradual-rollout") == ""
    assert "gradual-rollout" in ticked_keys(bot)


def test_a_stopped_projects_waivers_stay_as_they_were(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot, fake_slack)
    first = TEMPLATE.phase(1).items[0].key
    values = {"item": first, "reason": "Vendor covers it", "expires": bot.clock().date().isoformat()}
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 1), "waive:open", values).status == 200
    form = open_stop_form(bot, fake_slack)
    assert submit_view(bot, form, {"reason": "Budget cut"}).status == 200
    posts = len(fake_slack.calls_to("chat.postMessage"))

    bot.clock.advance(timedelta(days=2))
    assert bot.bot.governance.expire_waivers() == 0  # no "the item is open again" in a stopped thread
    assert len(fake_slack.calls_to("chat.postMessage")) == posts
