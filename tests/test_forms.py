"""Forms through the real endpoint: they name what they were built from (issue 7, finding 4),
numbers are read the way people write them, and any failure is answered in the form
(finding 6), never by closing it as if it had been saved."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session

from bot import modals
from bot.fake_slack import FakeSlack
from storage import queries
from tests.checklist_flow import (
    PASSING_BARS,
    PASSING_EVALUATION,
    block_text,
    fill_form,
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


def phase(fake: FakeSlack, number: int) -> dict[str, Any]:
    return fake.message(CH, phase_messages(fake, CH)[number - 1]["ts"])


def to_phase(bot: RunningBot, fake: FakeSlack, number: int) -> None:
    bot.slack.command("start Router")
    bot.settle()
    for earlier in range(1, number):
        tick_phase(bot, fake, CH, earlier)


def stored_bars(bot: RunningBot) -> Any:
    with Session(bot.engine) as session:
        return queries.current_bars(session, 1)


def stored_scores(bot: RunningBot) -> list[dict[str, float]]:
    with Session(bot.engine) as session:
        return [
            {score.name: score.student_score for score in queries.list_slice_scores(session, e.id or 0)}
            for e in queries.list_evaluations(session, 1)
        ]


# --- finding 4: the evaluation form carries the bars it was drawn from ----------------------------


def test_an_evaluation_form_opened_before_the_bars_changed_is_refused_in_the_form(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 6)  # bars: billing (critical, 0.85), then smalltalk (0.7)
    press_button(bot, CH, phase(fake_slack, 6), "evaluation:open")
    stale_form = fake_slack.views[-1]
    # Typed against the form as shown: billing fails its critical bar.
    typed = {"overall": "0.93 / 0.95", "slice-0": "0.5 / 0.9", "slice-1": "0.95 / 0.96"}

    # Meanwhile an owner amends the bars: a new slice first, billing and smalltalk swapped.
    [committed] = [m for m in replies_of(fake_slack, CH) if "Committed success bars" in block_text(m)]
    amended = "legal | accuracy | 0.9\nsmalltalk | accuracy | 0.7\nbilling | accuracy | 0.85 | critical"
    press_button(bot, CH, committed, "bars:open")
    saved = submit_view(bot, fake_slack.views[-1], {**PASSING_BARS, "slices": amended, "reason": "Add legal"})
    assert saved.status == 200 and saved.body == ""

    answer = submit_view(bot, stale_form, typed).json()
    assert answer == {"response_action": "errors", "errors": {"overall": modals.BARS_CHANGED}}
    assert stored_scores(bot) == [], "nothing is stored under the wrong slice"

    # Opened again, the form shows the new bars; scores land on the slices they were typed for.
    press_button(bot, CH, phase(fake_slack, 6), "evaluation:open")
    fresh = fake_slack.views[-1]
    labels = [b["label"]["text"] for b in fresh["blocks"] if b.get("block_id", "").startswith("slice:")]
    assert [label.split(" ")[0] for label in labels] == ["legal", "smalltalk", "billing"]
    values = {
        "overall": "0.93 / 0.95",
        "slice-0": "0.91 / 0.92",
        "slice-1": "0.95 / 0.96",
        "slice-2": "0.5 / 0.9",
    }
    assert submit_view(bot, fresh, values).status == 200
    assert stored_scores(bot) == [{"legal": 0.91, "smalltalk": 0.95, "billing": 0.5}]
    assert ":x: fail · *billing (accuracy)* (critical)" in block_text(replies_of(fake_slack, CH)[-1])


def test_evaluation_inputs_are_keyed_by_the_stored_slice_not_its_position(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 6)
    press_button(bot, CH, phase(fake_slack, 6), "evaluation:open")
    form = fake_slack.views[-1]
    bars = stored_bars(bot)
    assert bars is not None
    row, slices = bars
    assert modals.metadata(form)["bars_id"] == row.id
    keyed = [b["block_id"] for b in form["blocks"] if b["type"] == "input"]
    assert keyed == ["overall", *(f"slice:{s.id}" for s in slices), "latency", "cost"]
    assert slice_input(form, "slice-1") == f"slice:{slices[1].id}"


# --- finding 6: numbers, and failures answered in the form ----------------------------------------


@pytest.mark.parametrize("threshold", ["nan", "inf", "-0.5", "1e999"])
def test_a_slice_threshold_that_is_not_a_number_of_zero_or_more_is_refused_in_the_form(
    bot: RunningBot, fake_slack: FakeSlack, threshold: str
) -> None:
    to_phase(bot, fake_slack, 2)
    slices = f"billing | accuracy | {threshold} | critical"
    result = fill_form(
        bot, fake_slack, CH, phase(fake_slack, 2), "bars:open", {**PASSING_BARS, "slices": slices}
    )
    assert result.status == 200 and result.body, "an empty answer would close the form as if it were saved"
    answer = result.json()
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {"slices"}
    assert answer["errors"]["slices"].startswith("Line 1: ")
    assert stored_bars(bot) is None


def test_numbers_are_read_the_way_people_write_them(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 2)
    refused = fill_form(
        bot,
        fake_slack,
        CH,
        phase(fake_slack, 2),
        "bars:open",
        {
            **PASSING_BARS,
            "quality_threshold": "0,9.2",
            "cost_target": "1,000",
            "latency": "-250",
            "gap": "NaN",
        },
    ).json()
    assert set(refused["errors"]) == {"quality_threshold", "cost_target", "latency", "gap"}
    assert "could mean 1000 or 1.000" in refused["errors"]["cost_target"]
    assert "0 or more" in refused["errors"]["latency"]
    assert stored_bars(bot) is None

    decimal_commas = {
        **PASSING_BARS,
        "quality_threshold": "0,92",
        "slices": "billing | accuracy | 0,85 | critical",
        "gap": ",03",
    }
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 2), "bars:open", decimal_commas).status == 200
    bars = stored_bars(bot)
    assert bars is not None
    row, [billing] = bars
    assert (row.quality_threshold, billing.threshold, row.acceptable_gap) == (0.92, 0.85, 0.03)


def test_decimal_commas_in_evaluation_scores(bot: RunningBot, fake_slack: FakeSlack) -> None:
    to_phase(bot, fake_slack, 6)
    values = {**PASSING_EVALUATION, "overall": "0,93 / 0,95", "slice-0": "0,9, 0,92", "slice-1": "0.8 0.85"}
    assert fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", values).status == 200
    with Session(bot.engine) as session:
        [evaluation] = queries.list_evaluations(session, 1)
    assert (evaluation.student_score, evaluation.teacher_score) == (0.93, 0.95)
    assert stored_scores(bot) == [{"billing": 0.9, "smalltalk": 0.8}]


def test_a_failure_while_storing_a_submission_is_answered_in_the_form(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 6)
    # The database refuses the write (as a full disk or a broken constraint would).
    with bot.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON evaluation "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        )
    result = fill_form(bot, fake_slack, CH, phase(fake_slack, 6), "evaluation:open", PASSING_EVALUATION)
    assert result.status == 200 and result.body, "an empty answer would close the form as if it were saved"
    answer = result.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"].values()) == [
        "Something went wrong on my side and nothing was changed. Please try again."
    ]
    assert list(answer["errors"]) == ["overall"], "shown under the form's first input"
    assert stored_scores(bot) == []


def test_a_bars_form_opened_before_the_bars_changed_is_refused_in_the_form(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 2)
    press_button(bot, CH, phase(fake_slack, 2), "bars:open", user="UALICE")
    alices = fake_slack.views[-1]
    press_button(bot, CH, phase(fake_slack, 2), "bars:open", user="UBOB")
    bobs = fake_slack.views[-1]
    assert submit_view(bot, alices, PASSING_BARS, user="UALICE").body == ""
    answer = submit_view(bot, bobs, {**PASSING_BARS, "quality_threshold": "0.5"}, user="UBOB").json()
    assert answer == {"response_action": "errors", "errors": {"quality_metric": modals.BARS_CHANGED}}
    bars = stored_bars(bot)
    assert bars is not None and bars[0].quality_threshold == 0.9, "Alice's bars stand"


def test_a_bars_form_opened_before_phase_two_passed_is_refused_in_the_form(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    to_phase(bot, fake_slack, 2)
    press_button(bot, CH, phase(fake_slack, 2), "bars:open")
    before_commit = fake_slack.views[-1]
    tick_phase(bot, fake_slack, CH, 2)  # records the bars and passes Phase 2: they are committed
    answer = submit_view(bot, before_commit, {**PASSING_BARS, "quality_threshold": "0.5"}).json()
    assert answer == {"response_action": "errors", "errors": {"quality_metric": modals.BARS_CHANGED}}
    bars = stored_bars(bot)
    assert bars is not None and bars[0].quality_threshold == 0.9 and bars[0].amendment_reason is None
