"""The permission table: the README shows it, and every row holds through the real endpoint.

Each row is walked twice on a fresh bot: as the project's owner (UALICE, who started it) and
as a teammate who is not one (UBOB). An "anyone" row works for both; an "owners only" row works
for the owner and, for the teammate, answers with a short message only they see and leaves
every table exactly as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session, SQLModel

from bot import permissions
from bot.fake_slack import FakeSlack
from bot.nudges import rules
from bot.permissions import Permission, Who
from storage import queries
from tests.checklist_flow import (
    PASSING_BARS,
    PASSING_EVALUATION,
    TEMPLATE,
    block_text,
    phase_messages,
    press_button,
    press_nudge,
    replies_of,
    submit_view,
    tick_phase,
)
from tests.conftest import OTHER_CHANNEL, PROJECT_CHANNEL
from tests.support import TEAM, RunningBot

CH = PROJECT_CHANNEL
OWNER, TEAMMATE = "UALICE", "UBOB"
README = Path(__file__).resolve().parents[1] / "README.md"
# What forms answered in this test (errors shown in the form rather than in a message).
FORM_ERRORS: list[str] = []


def test_the_readme_shows_the_permission_table() -> None:
    text = README.read_text()
    section = text[text.index("## Permissions") :]
    section = section[: section.index("\n## ", 1)]
    shown = [line.strip() for line in section.splitlines() if line.startswith("|")]
    assert shown == permissions.markdown_table().splitlines(), (
        "README's Permissions table and bot/permissions.py disagree; the table should read:\n"
        + permissions.markdown_table()
    )


# --- what each row does, through the endpoint -------------------------------------------------
# A scenario sets the project up as its owner, then does the row's action as `user`, and says
# whether the action took effect.


def _project(bot: RunningBot, channel: str = CH) -> Any:
    with Session(bot.engine) as session:
        return queries.get_open_project(session, TEAM, channel)


def _reply(fake: FakeSlack) -> str:
    return str(fake.responses[-1].body.get("text", "")) if fake.responses else ""


def _command(bot: RunningBot, text: str, user: str) -> str:
    answer = bot.slack.command(text, user=user)
    assert answer.status == 200
    bot.settle()
    in_ack = answer.json().get("text", "") if answer.body else ""
    return str(in_ack) or _reply(bot.slack.fake)


def _start(bot: RunningBot) -> None:
    _command(bot, "start Router", OWNER)


def _phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    return fake.message(CH, phase_messages(fake, CH)[number - 1]["ts"])


def _to_phase(bot: RunningBot, number: int) -> None:
    _start(bot)
    for earlier in range(1, number):
        tick_phase(bot, bot.slack.fake, CH, earlier, user=OWNER)


def _use_form(
    bot: RunningBot, message: dict[str, Any], action_id: str, values: dict[str, str], user: str
) -> bool:
    """Open a form with its button and submit it, as `user`. A user refused at the button also
    submits a form the owner opened (a forged or forwarded form): the server checks that too.
    Returns whether the submission was accepted."""
    fake = bot.slack.fake
    opened = len(fake.views)
    press_button(bot, CH, message, action_id, user)
    if len(fake.views) == opened:
        press_button(bot, CH, message, action_id, OWNER)
    result = submit_view(bot, fake.views[-1], values, user)
    answer = result.json() if result.body else {}
    if answer.get("response_action") == "errors":
        FORM_ERRORS.extend(answer["errors"].values())
        return False
    return True


def _nudges(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in replies_of(fake, CH) if (m.get("metadata") or {}).get("event_type") == "distill_nudge"]


def _ship(bot: RunningBot) -> None:
    _to_phase(bot, len(TEMPLATE.phases) + 1)


def _nudge_answer(bot: RunningBot) -> str | None:
    with Session(bot.engine) as session:
        return queries.list_nudges(session)[-1].answer


Setup = Callable[[RunningBot], Any]
Act = Callable[[RunningBot, str, Any], bool]


def _help(bot: RunningBot, user: str, _: Any) -> bool:
    return "runs the model-distillation checklist" in _command(bot, "help", user)


def _start_project(bot: RunningBot, user: str, _: Any) -> bool:
    bot.slack.command("start Elsewhere", user=user, channel=OTHER_CHANNEL)
    bot.settle()
    project = _project(bot, OTHER_CHANNEL)
    return project is not None and project.started_by == user


def _status(bot: RunningBot, user: str, _: Any) -> bool:
    return "*Router* · Phase 1" in _command(bot, "status", user)


def _tick(bot: RunningBot, user: str, _: Any) -> bool:
    key = TEMPLATE.phase(1).items[0].key
    bot.slack.click(CH, _phase(bot.slack.fake, 1)["ts"], key, selected=True, user=user)
    bot.settle()
    with Session(bot.engine) as session:
        ticked = queries.get_tick(session, 1, key) is not None
    bot.slack.click(CH, _phase(bot.slack.fake, 1)["ts"], key, selected=False, user=user)
    bot.settle()
    with Session(bot.engine) as session:
        return ticked and queries.get_tick(session, 1, key) is None


def _bars_count(bot: RunningBot) -> int:
    with bot.engine.connect() as connection:
        return len(connection.execute(select(SQLModel.metadata.tables["success_bars"])).all())


def _record_bars(bot: RunningBot, user: str, _: Any) -> bool:
    _use_form(bot, _phase(bot.slack.fake, 2), "bars:open", PASSING_BARS, user)
    return _bars_count(bot) == 1


def _committed_bars(bot: RunningBot) -> dict[str, Any]:
    fake = bot.slack.fake
    [message] = [m for m in replies_of(fake, CH) if "Committed success bars" in block_text(m)]
    return message


def _amend_bars(bot: RunningBot, user: str, _: Any) -> bool:
    before = _bars_count(bot)
    amended = {**PASSING_BARS, "quality_threshold": "0.88", "reason": "Label noise"}
    _use_form(bot, _committed_bars(bot), "bars:open", amended, user)
    return _bars_count(bot) == before + 1


def _record_evaluation(bot: RunningBot, user: str, _: Any) -> bool:
    _use_form(bot, _phase(bot.slack.fake, 6), "evaluation:open", PASSING_EVALUATION, user)
    with Session(bot.engine) as session:
        return len(queries.list_evaluations(session, 1)) == 1


def _waive(bot: RunningBot, user: str, _: Any) -> bool:
    values = {"item": TEMPLATE.phase(1).items[0].key, "reason": "Covered by the vendor"}
    _use_form(bot, _phase(bot.slack.fake, 1), "waive:open", values, user)
    with Session(bot.engine) as session:
        return len(queries.list_waivers(session, 1)) == 1


def _drift_check_posted(bot: RunningBot) -> None:
    _ship(bot)
    bot.clock.advance(timedelta(days=7))
    assert bot.run_nudges() == 1


def _answer_drift(bot: RunningBot, user: str, _: Any) -> bool:
    press_nudge(bot, CH, _nudges(bot.slack.fake)[-1], rules.Answer.NO_DRIFT, user)
    return _nudge_answer(bot) == rules.Answer.NO_DRIFT.key


def _stall_reminder_posted(bot: RunningBot) -> None:
    _start(bot)
    bot.clock.advance(timedelta(days=3))
    assert bot.run_nudges() == 1


def _snooze(bot: RunningBot, user: str, _: Any) -> bool:
    press_nudge(bot, CH, _nudges(bot.slack.fake)[-1], rules.Answer.SNOOZE_STALL, user)
    return _nudge_answer(bot) == rules.Answer.SNOOZE_STALL.key


def _redistill_offer_posted(bot: RunningBot) -> None:
    _drift_check_posted(bot)
    press_nudge(bot, CH, _nudges(bot.slack.fake)[-1], rules.Answer.DRIFT_FOUND, OWNER)
    assert "found drift" in block_text(_nudges(bot.slack.fake)[-1])


def _start_cycle(bot: RunningBot, user: str, _: Any) -> bool:
    press_nudge(bot, CH, _nudges(bot.slack.fake)[-1], rules.Answer.START_REDISTILL, user)
    return _project(bot).cycle == 2


def _list_schedule(bot: RunningBot, user: str, _: Any) -> bool:
    return "Stalled-phase reminders" in _command(bot, "schedule", user)


def _drift_every(bot: RunningBot) -> int:
    with Session(bot.engine) as session:
        return next(s.every_days for s in queries.list_schedules(session, 1) if s.kind == rules.DRIFT)


def _change_schedule(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "schedule drift every 14d", user)
    return _drift_every(bot) == 14


def _paused(bot: RunningBot) -> None:
    _start(bot)
    bot.slack.fake.set_channel(CH, is_archived=True)
    bot.clock.advance(timedelta(days=3))
    bot.run_nudges()
    assert _project(bot).nudges_paused_reason
    bot.slack.fake.set_channel(CH, is_archived=False)


def _resume(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "schedule resume", user)
    return _project(bot).nudges_paused_reason is None


def _show_timezone(bot: RunningBot, user: str, _: Any) -> bool:
    return "nudges follow UTC" in _command(bot, "timezone", user)


def _change_timezone(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "timezone Europe/Berlin", user)
    return _project(bot).timezone == "Europe/Berlin"


def _list_owners(bot: RunningBot, user: str, _: Any) -> bool:
    return "Owners of *Router*: <@UALICE>" in _command(bot, "owners", user)


def _change_owners(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "owners add <@UCAROL>", user)
    with Session(bot.engine) as session:
        return "UCAROL" in queries.list_owners(session, 1)


def _nothing(bot: RunningBot) -> None:
    pass


def _latest(bot: RunningBot) -> Any:
    with Session(bot.engine) as session:
        return queries.latest_channel_project(session, TEAM, CH)


def _stop(bot: RunningBot, user: str, _: Any) -> bool:
    """The command opens the form for owners; a refused user also submits a form an owner
    opened (a forged or forwarded form), which the server checks too."""
    fake = bot.slack.fake
    opened = len(fake.views)
    _command(bot, "stop", user)
    if len(fake.views) == opened:
        bot.slack.command("stop", user=OWNER)
        bot.settle()
    result = submit_view(bot, fake.views[-1], {"outcome": "win"}, user)
    answer = result.json() if result.body else {}
    if answer.get("response_action") == "errors":
        FORM_ERRORS.extend(answer["errors"].values())
        return False
    return bool(_latest(bot).status == "stopped")


def _reopen(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "reopen 1 the scope changed", user)
    return bool(_latest(bot).current_phase == 1)


def _rollout(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "rollout 25", user)
    return bool(_latest(bot).rollout_stage == "25")


def _history(bot: RunningBot, user: str, _: Any) -> bool:
    return "History of Router" in _command(bot, "history", user)


def _export(bot: RunningBot, user: str, _: Any) -> bool:
    _command(bot, "export", user)
    return len(bot.slack.fake.files) == 2


SCENARIOS: dict[Permission, tuple[Setup, Act]] = {
    permissions.HELP: (_nothing, _help),
    permissions.START: (_start, _start_project),
    permissions.STATUS: (_start, _status),
    permissions.TICK: (_start, _tick),
    permissions.RECORD_BARS: (lambda bot: _to_phase(bot, 2), _record_bars),
    permissions.AMEND_BARS: (lambda bot: _to_phase(bot, 3), _amend_bars),
    permissions.RECORD_EVALUATION: (lambda bot: _to_phase(bot, 6), _record_evaluation),
    permissions.WAIVE: (_start, _waive),
    permissions.ANSWER_DRIFT: (_drift_check_posted, _answer_drift),
    permissions.SNOOZE: (_stall_reminder_posted, _snooze),
    permissions.START_CYCLE: (_redistill_offer_posted, _start_cycle),
    permissions.LIST_SCHEDULE: (_start, _list_schedule),
    permissions.CHANGE_SCHEDULE: (_start, _change_schedule),
    permissions.RESUME_NUDGES: (_paused, _resume),
    permissions.SHOW_TIMEZONE: (_start, _show_timezone),
    permissions.CHANGE_TIMEZONE: (_start, _change_timezone),
    permissions.LIST_OWNERS: (_start, _list_owners),
    permissions.CHANGE_OWNERS: (_start, _change_owners),
    permissions.STOP: (_start, _stop),
    permissions.REOPEN: (lambda bot: _to_phase(bot, 2), _reopen),
    permissions.ROLLOUT: (lambda bot: _to_phase(bot, 7), _rollout),
    permissions.HISTORY: (_start, _history),
    permissions.EXPORT: (_start, _export),
}


def test_every_row_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(permissions.TABLE), "walk each new row of the table below"


def _snapshot(bot: RunningBot) -> dict[str, list[Any]]:
    with Session(bot.engine) as session:
        return {
            table.name: sorted(map(tuple, session.exec(select(table)).all()), key=repr)  # type: ignore[call-overload]
            for table in SQLModel.metadata.sorted_tables
        }


def _slug(permission: Permission) -> str:
    return re.sub(r"[^a-z]+", "-", permission.action.lower()).strip("-")[:40]


@pytest.mark.parametrize("user", [OWNER, TEAMMATE])
@pytest.mark.parametrize("permission", permissions.TABLE, ids=_slug)
def test_each_row_of_the_table_holds(
    bot: RunningBot, fake_slack: FakeSlack, permission: Permission, user: str
) -> None:
    setup, act = SCENARIOS[permission]
    setup(bot)
    replies_before = len(fake_slack.responses)
    before = _snapshot(bot)
    FORM_ERRORS.clear()

    done = act(bot, user, None)

    allowed = permission.who is Who.ANYONE or user == OWNER
    assert done == allowed
    if not allowed:
        refusal = permissions.owners_only(permission)
        said = [r.body.get("text", "") for r in fake_slack.responses[replies_before:]] + FORM_ERRORS
        assert said and all(text == refusal for text in said), said
        assert all(r.body.get("response_type") == "ephemeral" for r in fake_slack.responses[replies_before:])
        assert _snapshot(bot) == before, "a refusal changed stored state"


# --- finding 2: "Start re-distillation" made anyone an owner -----------------------------------


def test_start_redistillation_is_for_owners_and_grants_no_ownership(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    _redistill_offer_posted(bot)
    _command(bot, "owners add <@UBOB>", OWNER)
    offer = _nudges(fake_slack)[-1]

    press_nudge(bot, CH, offer, rules.Answer.START_REDISTILL, "UCAROL")
    assert _reply(fake_slack) == permissions.owners_only(permissions.START_CYCLE)
    assert _project(bot).cycle == 1 and _nudge_answer(bot) is None

    press_nudge(bot, CH, offer, rules.Answer.START_REDISTILL, "UBOB")
    new_cycle = _project(bot)
    assert new_cycle.cycle == 2 and new_cycle.started_by == "UBOB"
    with Session(bot.engine) as session:
        assert queries.list_owners(session, new_cycle.id) == ["UALICE", "UBOB"]
        assert "UCAROL" not in queries.list_owners(session, new_cycle.id)


def test_a_refused_start_of_redistillation_leaves_the_offer_open(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """Reopened after shipping, the project cannot start a cycle: the owner is told so, and the
    offer is not used up, so it still works once the project ships again."""
    _redistill_offer_posted(bot)
    _command(bot, "reopen 7 rolled back to the teacher", OWNER)
    offer = _nudges(fake_slack)[-1]
    press_nudge(bot, CH, offer, rules.Answer.START_REDISTILL, OWNER)
    assert _reply(fake_slack) == "Only a shipped project can start a re-distillation cycle."
    assert _project(bot).cycle == 1 and _nudge_answer(bot) is None
    assert "answered" not in block_text(fake_slack.message(CH, offer["ts"]))
