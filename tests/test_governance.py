"""Evidence-backed gates through the real endpoint: bars, evaluations, waivers and owners."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from bot import modals
from bot.checklist.evidence import BarsView, SliceBarView
from bot.fake_slack import FakeSlack
from bot.fake_slack.blockkit import validate_view
from bot.governance import OWNER_NOT_LOOKED_UP
from storage import queries
from tests.checklist_flow import (
    PASSING_BARS,
    PASSING_EVALUATION,
    TEMPLATE,
    block_text,
    fill_form,
    is_ticked,
    item_section,
    phase_messages,
    press_button,
    replies_of,
    slice_input,
    submit_view,
    tick_phase,
)
from tests.conftest import PROJECT_CHANNEL
from tests.support import RunningBot

CH = PROJECT_CHANNEL


def start(bot: RunningBot, user: str = "UALICE") -> None:
    bot.slack.command("start Router", user=user)
    bot.settle()


def latest_reply(fake: FakeSlack) -> str:
    return fake.responses[-1].body.get("text", "")


def phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    return fake.message(CH, phase_messages(fake, CH)[number - 1]["ts"])


def click(
    bot: RunningBot, fake: FakeSlack, number: int, key: str, user: str = "UALICE", selected: bool = True
) -> None:
    bot.slack.click(CH, phase(fake, number)["ts"], key, selected=selected, user=user)
    bot.settle()


def ticks(bot: RunningBot) -> set[str]:
    with Session(bot.engine) as session:
        return {tick.item_key for tick in queries.list_ticks(session, 1)}


def to_phase(bot: RunningBot, fake: FakeSlack, number: int) -> None:
    start(bot)
    for earlier in range(1, number):
        tick_phase(bot, fake, CH, earlier)


# --- success bars -----------------------------------------------------------------------------


def test_numbered_items_wait_for_the_numbers(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 2)
    click(bot, fake_slack, 2, "quality-bar")
    assert "Record success bars" in latest_reply(fake_slack)
    assert "quality-bar" not in ticks(bot)
    assert not is_ticked(phase(fake_slack, 2), "quality-bar")  # redrawn, so the user's checkbox resets

    without_slices = {**PASSING_BARS, "slices": "", "cost_target": "", "latency": "", "gap": ""}
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 2), "bars:open", without_slices).status == 200
    click(bot, fake_slack, 2, "quality-bar")
    click(bot, fake_slack, 2, "slice-bars")
    click(bot, fake_slack, 2, "cost-latency-targets")
    click(bot, fake_slack, 2, "acceptable-gap")
    assert ticks(bot) & {"quality-bar", "slice-bars", "cost-latency-targets", "acceptable-gap"} == {
        "quality-bar"
    }
    assert "Recorded bars: accuracy ≥ 0.9" in block_text(phase(fake_slack, 2))


def test_bad_bars_are_answered_in_the_modal_and_nothing_is_stored(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 2)
    bad = {
        **PASSING_BARS,
        "quality_metric": "",
        "quality_threshold": "high",
        "slices": "billing | accuracy",
        "latency": "-5",
    }
    result = fill_form(bot, fake_slack, CH, phase(fake_slack, 2), "bars:open", bad)
    answer = result.json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"quality_metric", "quality_threshold", "slices", "latency"}
    assert "not a number" in answer["errors"]["quality_threshold"]
    with Session(bot.engine) as session:
        assert queries.current_bars(session, 1) is None


def test_passing_phase_two_commits_the_bars_and_amendments_need_an_owner_and_a_reason(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 3)
    [committed] = [m for m in replies_of(fake_slack, CH) if "Committed success bars" in block_text(m)]
    assert "Committed by <@UALICE>" in block_text(committed)
    assert "billing (accuracy) ≥ 0.85 (critical)" in block_text(committed)

    # Not an owner: the form does not open, and the user is told why.
    views = len(fake_slack.views)
    press_button(bot, CH, committed, "bars:open", user="UBOB")
    assert len(fake_slack.views) == views
    assert "Only the project's owners may amend" in latest_reply(fake_slack)

    # An owner amends, and must say why.
    press_button(bot, CH, committed, "bars:open")
    view = fake_slack.views[-1]
    assert view["title"]["text"] == "Amend success bars"
    missing_reason = submit_view(bot, view, {**PASSING_BARS, "quality_threshold": "0.88"}).json()
    assert missing_reason["errors"] == {"reason": "Say why the committed bars change."}
    assert (
        submit_view(bot, view, {**PASSING_BARS, "quality_threshold": "0.88", "reason": "Label noise"}).status
        == 200
    )

    amended = fake_slack.message(CH, committed["ts"])
    assert "accuracy ≥ 0.88" in block_text(amended)
    assert "Amended after Phase 2 by <@UALICE>" in block_text(amended) and "Label noise" in block_text(
        amended
    )
    # A submission from someone who is not an owner is refused even with a forged form.
    refused = submit_view(bot, view, {**PASSING_BARS, "reason": "mine now"}, user="UBOB").json()
    assert refused["response_action"] == "errors" and "owners" in next(iter(refused["errors"].values()))


# --- evaluations ------------------------------------------------------------------------------


def evaluation_tables(fake: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in replies_of(fake, CH) if "Evaluation against the committed bars" in block_text(m)]


def test_evaluation_table_failing_critical_slice_and_an_owners_waiver(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 6)
    click(bot, fake_slack, 6, "gap-to-teacher")
    assert "Record evaluation" in latest_reply(fake_slack)

    failing = {**PASSING_EVALUATION, "slice-0": "0.80 / 0.93", "latency": "300"}
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", failing).status == 200
    [table] = evaluation_tables(fake_slack)
    text = block_text(table)
    assert ":x: fail · *billing (accuracy)* (critical) · bar ≥ 0.85 · student 0.8" in text
    assert ":white_check_mark: pass · *smalltalk (accuracy)* · bar ≥ 0.7 · student 0.8" in text
    assert ":white_check_mark: pass · *Gap to the teacher* · bar ≤ 0.03 · student 0.02" in text
    assert ":x: fail · *Latency p95 (ms)* · bar ≤ 250 · student 300" in text
    assert "production-critical slice(s) fail" in text

    for key in ("gap-to-teacher", "by-slice", "disagreements"):
        click(bot, fake_slack, 6, key)
    click(bot, fake_slack, 6, "critical-slices")
    assert "Production-critical slices fail their bars (billing (accuracy))" in latest_reply(fake_slack)
    assert "critical-slices" not in ticks(bot) and len(phase_messages(fake_slack, CH)) == 6

    # A teammate who is not an owner cannot waive it; the owner can, and the gate opens.
    press_button(bot, CH, phase(fake_slack, 6), "waive:open", user="UBOB")
    assert "Only the project's owners may waive" in latest_reply(fake_slack)
    waived = fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 6),
        "waive:open",
        {"item": "critical-slices", "reason": "Billing traffic stays on the teacher via fallback"},
    )
    assert waived.status == 200
    assert len(phase_messages(fake_slack, CH)) == 7
    summary = block_text(phase(fake_slack, 6))
    assert "Waived by <@UALICE>" in summary and "Billing traffic stays on the teacher" in summary

    with Session(bot.engine) as session:
        assert len(queries.list_evaluations(session, 1)) == 1


def test_a_newer_failing_evaluation_stops_an_earlier_tick_from_counting(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 6)
    fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", PASSING_EVALUATION)
    for key in ("gap-to-teacher", "by-slice", "critical-slices"):
        click(bot, fake_slack, 6, key)
    fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 6),
        "evaluation:open",
        {**PASSING_EVALUATION, "slice-0": "0.5 / 0.9"},
    )
    click(bot, fake_slack, 6, "disagreements")

    assert len(phase_messages(fake_slack, CH)) == 6, "the gate stays shut"
    shown = item_section(phase(fake_slack, 6), "critical-slices")["text"]["text"]
    assert "no longer supports this tick" in shown

    # A new, passing evaluation frees the gate without another click.
    fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", PASSING_EVALUATION)
    assert len(phase_messages(fake_slack, CH)) == 7


def test_every_evaluation_is_kept(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 6)
    fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 6),
        "evaluation:open",
        {**PASSING_EVALUATION, "overall": "0.85 / 0.95"},
    )
    bot.clock.advance(timedelta(days=2))
    fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", PASSING_EVALUATION)
    first, second = evaluation_tables(fake_slack)
    assert ":x: fail · *Overall (accuracy)*" in block_text(first)
    assert ":white_check_mark: pass · *Overall (accuracy)*" in block_text(second)
    with Session(bot.engine) as session:
        assert [e.student_score for e in queries.list_evaluations(session, 1)] == [0.85, 0.93]
    tick_phase(bot, fake_slack, CH, 6)  # the newest evaluation decides
    assert len(phase_messages(fake_slack, CH)) == 7


def test_bad_scores_are_answered_in_the_modal(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 6)
    answer = fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 6),
        "evaluation:open",
        {**PASSING_EVALUATION, "overall": "0.9", "slice-1": "good / 0.8"},
    ).json()
    second_slice = slice_input(fake_slack.views[-1], "slice-1")
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"overall", second_slice}
    assert evaluation_tables(fake_slack) == []


# --- waivers ----------------------------------------------------------------------------------


def test_a_waiver_counts_for_the_gate_and_reopens_the_item_when_it_expires(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    start(bot)
    *others, last = TEMPLATE.phase(1).items
    for item in others[:-1]:
        click(bot, fake_slack, 1, item.key)
    assert (
        fill_form(
            bot,
            fake_slack,
            CH,
            phase(fake_slack, 1),
            "waive:open",
            {
                "item": others[-1].key,
                "reason": "Quantizing is ruled out by the vendor",
                "expires": "2026-11-30",
            },
        ).status
        == 200
    )
    shown = item_section(phase(fake_slack, 1), others[-1].key)["text"]["text"]
    assert "Waived by <@UALICE>" in shown and "until" in shown and "ruled out by the vendor" in shown
    assert len(phase_messages(fake_slack, CH)) == 1

    # Expiry: the end of 30 November in the project's zone (UTC here). Not yet...
    bot.clock.advance(timedelta(days=3, hours=13, minutes=59))  # Monday 30 Nov, 23:59
    assert bot.bot.governance.expire_waivers() == 0
    bot.clock.advance(timedelta(minutes=1))
    assert bot.bot.governance.expire_waivers() == 1
    assert "waiver on *" in block_text(replies_of(fake_slack, CH)[-1]) and "open again" in block_text(
        replies_of(fake_slack, CH)[-1]
    )
    assert "Waived" not in item_section(phase(fake_slack, 1), others[-1].key)["text"]["text"]
    assert bot.bot.governance.expire_waivers() == 0  # once

    # A waiver without an end, on the last open item, opens the gate.
    click(bot, fake_slack, 1, others[-1].key)
    fill_form(
        bot, fake_slack, CH, phase(fake_slack, 1), "waive:open", {"item": last.key, "reason": "Internal tool"}
    )
    assert len(phase_messages(fake_slack, CH)) == 2
    bot.clock.advance(timedelta(days=400))
    assert bot.bot.governance.expire_waivers() == 0


def test_bad_waivers_are_answered_in_the_modal(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    answer = fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 1),
        "waive:open",
        {"item": "narrow-task", "reason": "", "expires": "2020-01-01"},
    ).json()
    assert set(answer["errors"]) == {"reason", "expires"}
    click(bot, fake_slack, 1, "narrow-task")
    press_button(bot, CH, phase(fake_slack, 1), "waive:open")
    stale_form = fake_slack.views[-1]
    answer = submit_view(bot, stale_form, {"item": "edge-cases", "reason": "x"}).json()
    assert "still open" in answer["errors"]["item"]
    with Session(bot.engine) as session:
        assert queries.list_waivers(session, 1) == []


# --- owners -----------------------------------------------------------------------------------


def test_owners_list_add_remove_and_who_may_do_what(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)

    def owners(text: str, user: str = "UALICE") -> str:
        bot.slack.command(f"owners {text}".strip(), user=user)
        bot.settle()
        return latest_reply(fake_slack)

    assert "Owners of *Router*: <@UALICE>" in owners("")
    assert "Only the project's owners" in owners("add <@UBOB|bob>", user="UBOB")
    assert "is now an owner" in owners("add <@UBOB|bob>")
    assert "already an owner" in owners("add <@UBOB>")
    assert "<@UALICE>, <@UBOB>" in owners("")
    # Bob may now waive.
    fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 1),
        "waive:open",
        {"item": "narrow-task", "reason": "ok"},
        user="UBOB",
    )
    assert "Waived by <@UBOB>" in block_text(phase(fake_slack, 1))
    assert "no longer an owner" in owners("remove <@UALICE>", user="UBOB")
    assert "Only the project's owners" in owners("remove <@UBOB>", user="UALICE")
    # A waiver form submitted by someone who is no longer an owner is refused on the server.
    press_button(bot, CH, phase(fake_slack, 1), "waive:open", user="UBOB")
    forged = submit_view(
        bot, fake_slack.views[-1], {"item": "volume-justifies", "reason": "x"}, user="UALICE"
    )
    assert "Only the project's owners" in forged.json()["errors"]["item"]
    assert "always keeps one owner" in owners("remove <@UBOB>", user="UBOB")
    assert "Use `/distill owners`" in owners("promote <@UCAROL>", user="UBOB")
    with Session(bot.engine) as session:
        assert queries.list_owners(session, 1) == ["UBOB"]


def test_only_people_slack_knows_become_owners(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """Owners may be typed as ids: an id nobody has, a deactivated account or an app is refused
    and nothing is stored; nor is anything when Slack does not say who it is."""
    start(bot)
    fake_slack.add_user("UGONE", "gone", deleted=True)
    fake_slack.add_user("UOTHERAPP", "other_app", is_bot=True)

    def owners(text: str, user: str = "UALICE") -> str:
        bot.slack.command(f"owners {text}".strip(), user=user)
        bot.settle()
        return latest_reply(fake_slack)

    assert "Nobody here has the id `UNOBODY1`" in owners("add UNOBODY1")
    assert "deactivated" in owners("add <@UGONE|gone>")
    assert "is an app" in owners("add <@UOTHERAPP>")
    assert "is an app" in owners(f"add <@{fake_slack.bot_user_id}>")
    fake_slack.fail("users.info", status=500, times=3)  # the call and its two retries
    assert owners("add UCAROL") == OWNER_NOT_LOOKED_UP
    # A refused user is told so, whoever they name.
    assert "Only the project's owners" in owners("add UNOBODY1", user="UBOB")
    with Session(bot.engine) as session:
        assert queries.list_owners(session, 1) == ["UALICE"]
    assert "is now an owner" in owners("add UCAROL")  # an id, as Slack knows it
    with Session(bot.engine) as session:
        assert queries.list_owners(session, 1) == ["UALICE", "UCAROL"]


def test_restricted_forms_from_another_channel_are_refused(bot: RunningBot, fake_slack: FakeSlack) -> None:
    start(bot)
    message = phase(fake_slack, 1)
    forged = {**message, "blocks": [dict(b) for b in message["blocks"]]}
    forged["blocks"][-1] = {
        **forged["blocks"][-1],
        "elements": [{**e, "value": "1:99"} for e in forged["blocks"][-1]["elements"]],
    }
    press_button(bot, CH, forged, "waive:open")
    assert "Only items of the open phase" in latest_reply(fake_slack)
    views = len(fake_slack.views)
    press_button(bot, "C0OTHER", message, "waive:open")
    assert "another channel" in latest_reply(fake_slack) and len(fake_slack.views) == views


# --- limits -------------------------------------------------------------------------------------


def test_every_modal_fits_slacks_view_limits() -> None:
    from tests.test_rendering import _largest_template

    largest = _largest_template()
    slices = tuple(
        SliceBarView("s" * 58 + f"{n:02}", "m" * modals.METRIC_LENGTH, 1 / 3, n % 2 == 0, bar_id=n + 1)
        for n in range(modals.MAX_SLICES)
    )
    bars = BarsView("q" * 60, 0.9, slices, 1.0, 200.0, 0.05, "U1", __import__("datetime").datetime.now())
    for view in (
        modals.waive_modal(1, 1, largest.phase(1).title, list(largest.phase(1).items)),
        modals.bars_modal(1, bars, amending=True),
        modals.bars_modal(1, None, amending=False),
        modals.evaluation_modal(1, bars),
    ):
        assert validate_view(view) == []
