"""The checklist's rules word for word: what each refusal says, the evaluation table's cells,
who may waive what, and how the bundled checklist loads. Pure: no Slack, no database.
Written to kill what mutation testing showed no fast test guards."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.checklist import gate
from bot.checklist.evidence import Evidence, Missing, Row, _num, compare, missing_evidence
from bot.checklist.template import (
    DEFAULT_TEMPLATE,
    TemplateError,
    load_template,
    parse_template,
    sent_length,
)
from tests.test_evidence import AMENDED, AT_EVERY_BAR, BARS

TEMPLATE = load_template()
NOTHING = Evidence()
NO_OPTIONAL_BARS = replace(BARS, slices=(), cost_target=None, latency_p95_ms=None, acceptable_gap=None)


# --- what each numbered item is waiting for ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "evidence", "missing"),
    [
        (None, NOTHING, None),
        ("quality-bar", NOTHING, Missing("quality-bar")),
        ("quality-bar", Evidence(NO_OPTIONAL_BARS), None),
        ("slice-bars", NOTHING, Missing("slice-bars")),
        ("slice-bars", Evidence(NO_OPTIONAL_BARS), Missing("slice-bars")),
        ("slice-bars", Evidence(BARS), None),
        ("cost-latency-targets", NOTHING, Missing("cost-latency-targets")),
        ("cost-latency-targets", Evidence(replace(BARS, cost_target=None)), Missing("cost-latency-targets")),
        (
            "cost-latency-targets",
            Evidence(replace(BARS, latency_p95_ms=None)),
            Missing("cost-latency-targets"),
        ),
        ("cost-latency-targets", Evidence(BARS), None),
        ("acceptable-gap", Evidence(NO_OPTIONAL_BARS), Missing("acceptable-gap")),
        ("acceptable-gap", NOTHING, Missing("acceptable-gap")),
        ("acceptable-gap", Evidence(BARS), None),
        ("evaluation", Evidence(BARS), Missing("evaluation")),
        ("evaluation-slices", Evidence(None, AT_EVERY_BAR), Missing("evaluation")),
        ("critical-slices-pass", Evidence(BARS), Missing("evaluation")),
        ("evaluation", Evidence(BARS, AT_EVERY_BAR), None),
    ],
)
def test_what_each_kind_of_item_waits_for(
    kind: str | None, evidence: Evidence, missing: Missing | None
) -> None:
    assert missing_evidence(kind, evidence) == missing


def test_the_refusals_name_every_missing_slice_and_every_failing_critical_one() -> None:
    two_more = replace(AMENDED, slices=(*AMENDED.slices, replace(AMENDED.slices[-1], name="returns")))
    assert missing_evidence("evaluation-slices", Evidence(two_more, AT_EVERY_BAR)) == Missing(
        "slice-scores", ("refunds", "returns")
    )
    both_critical = replace(BARS, slices=tuple(replace(bar, critical=True) for bar in BARS.slices))
    failing = replace(AT_EVERY_BAR, slice_scores={"billing": (0.5, 0.75), "smalltalk": (0.25, 0.5)})
    assert missing_evidence("critical-slices-pass", Evidence(both_critical, failing)) == Missing(
        "critical-slices-fail", ("billing (accuracy)", "smalltalk (f1)")
    )


# --- the evaluation table ----------------------------------------------------------------------


def test_every_cell_of_the_evaluation_table() -> None:
    unmeasured_slice = replace(AT_EVERY_BAR, slice_scores={"billing": (0.625, 0.75)})
    assert compare(BARS, unmeasured_slice).rows == [
        Row("Overall (accuracy)", "≥ 0.5", "0.5", True),
        Row("billing (accuracy)", "≥ 0.625", "0.625", True, critical=True),
        Row("smalltalk (f1)", "≥ 0.375", "not measured", False, critical=False),
        Row("Gap to the teacher", "≤ 0.25", "0.25 (teacher 0.75)", True),
        Row("Latency p95 (ms)", "≤ 250", "250", True),
        Row("Cost per 1,000 requests", "≤ 0.25", "0.25", True),
    ]
    bare = replace(NO_OPTIONAL_BARS, quality_threshold=0.875)
    nothing_measured = replace(
        AT_EVERY_BAR, student_score=0.75, teacher_score=1.0, latency_p95_ms=None, cost=None
    )
    assert compare(bare, nothing_measured).rows == [
        Row("Overall (accuracy)", "≥ 0.875", "0.75", False),
        Row("Gap to the teacher", "none set", "0.25 (teacher 1)", None),
        Row("Latency p95 (ms)", "none set", "not measured", None),
        Row("Cost per 1,000 requests", "none set", "not measured", None),
    ]
    assert _num(None) == "-" and _num(0.0) == "0" and _num(1234567.0) == "1.23457e+06"


# --- waivers (who may waive is bot/permissions.py's) ----------------------------------------


def _waive(**overrides: object) -> gate.Refusal | None:
    arguments: dict = {"phase_number": 2, "item_key": "quality-bar", "done": set()}
    arguments.update(overrides)
    return gate.decide_waive(TEMPLATE, gate.Standing(2, shipped=False), **arguments)


def test_only_open_items_of_the_open_phase_can_be_waived() -> None:
    assert _waive() is None
    wrong_phase = gate.Refusal("Only items of the open phase (Phase 2) can be waived.")
    assert _waive(phase_number=1, item_key="narrow-task") == wrong_phase
    assert _waive(phase_number=3, item_key="edge-cases") == wrong_phase
    assert _waive(item_key="edge-cases") == wrong_phase  # an item of another phase
    shipped = gate.decide_waive(
        TEMPLATE, gate.Standing(2, shipped=True), phase_number=2, item_key="quality-bar", done=set()
    )
    assert shipped == wrong_phase
    assert _waive(done={"quality-bar"}) == gate.Refusal("That item is already ticked or waived.")
    assert _waive(done={"slice-bars"}) is None


# --- ticks -------------------------------------------------------------------------------------


def _decide(**overrides: object) -> gate.Change | gate.Refusal:
    arguments: dict = {
        "phase_number": 7,
        "item_key": "shadow-mode",
        "want_ticked": True,
        "existing": None,
        "user_id": "UALICE",
        "seen_version": 10,
    }
    arguments.update(overrides)
    return gate.decide_toggle(TEMPLATE, gate.Standing(7, shipped=False), **arguments)


def test_the_last_phase_can_be_ticked_and_refusals_say_why() -> None:
    assert _decide() is gate.Change.TICK
    assert _decide(phase_number=8) == gate.Refusal("That item is not part of this checklist any more.")
    assert _decide(phase_number=0) == gate.Refusal("That item is not part of this checklist any more.")
    assert _decide(missing_evidence="Record it first.") == gate.Refusal("Record it first.", redraw=True)
    assert _decide(want_ticked=False, existing=gate.TickState("UBOB", 11)) == gate.Refusal(
        "<@UBOB> ticked this item after your view of the checklist was drawn, so it stays ticked. "
        "Untick it again if you mean to.",
        redraw=True,
    )
    assert _decide(want_ticked=False, existing=gate.TickState("UBOB", 10)) is gate.Change.UNTICK


# --- the checklist file ------------------------------------------------------------------------


def test_the_bundled_checklist_loads_by_name() -> None:
    bundled = load_template()
    path = Path(__file__).resolve().parents[1] / "bot" / "checklist" / DEFAULT_TEMPLATE
    assert bundled == parse_template(path.read_text(encoding="utf-8"))
    assert bundled.name == "default" and bundled.item_count == 32


def test_errors_name_the_file_and_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "team.yml"
    path.write_text("name: team\ntitle: ''\nphases: []\n", encoding="utf-8")
    with pytest.raises(TemplateError) as raised:
        load_template(path)
    assert str(raised.value) == (
        f"{path}: title: String should have at least 1 character; "
        "phases: Tuple should have at least 1 item after validation, not 0"
    )
    with pytest.raises(TemplateError) as raised:
        parse_template("[1, 2]")
    assert (
        str(raised.value) == "<string>: checklist: Input should be a valid dictionary or instance of Template"
    )
    with pytest.raises(TemplateError) as raised:
        parse_template("name: [")
    assert str(raised.value).startswith("<string>: not valid YAML: ")


def test_phase_and_item_lookups() -> None:
    assert TEMPLATE.phase(7).key == "rollout"
    with pytest.raises(KeyError) as raised:
        TEMPLATE.phase(8)
    assert raised.value.args == ("no phase 8 in a 7-phase checklist",)
    assert TEMPLATE.item("narrow-task") is TEMPLATE.phase(1).items[0]
    assert TEMPLATE.item("no-such-item") is None


def test_sent_length_counts_the_escapes_slack_sends() -> None:
    assert sent_length("plain") == 5
    assert sent_length("a & b") == 5 + 4  # &amp;
    assert sent_length("<b>") == 3 + 6  # &lt; and &gt;
    assert sent_length("<&>") == 3 + 4 + 6


def test_items_of_passed_phases_that_count_no_more_are_reopened() -> None:
    phase_one = {item.key for item in TEMPLATE.phase(1).items}
    phase_two = {item.key for item in TEMPLATE.phase(2).items}
    at_three = gate.Standing(3, shipped=False)
    # A waiver on Phase 1's first item ended: not done, never ticked -> open again.
    done = (phase_one | phase_two) - {"narrow-task"}
    assert gate.reopened_items(TEMPLATE, at_three, ticked=done, done=done) == {"narrow-task"}
    # Ticked items are not reopened even when their evidence no longer counts; open phases never are.
    assert gate.reopened_items(TEMPLATE, at_three, ticked=phase_one | phase_two, done=done) == set()
    assert gate.reopened_items(TEMPLATE, gate.Standing(1, shipped=False), ticked=set(), done=set()) == set()
    # Once shipped, every phase has passed, the last one included.
    everything = {item.key for phase in TEMPLATE.phases for item in phase.items}
    last = TEMPLATE.phase(7).items[-1].key
    shipped = gate.Standing(7, shipped=True)
    assert gate.reopened_items(TEMPLATE, shipped, ticked=everything - {last}, done=everything - {last}) == {
        last
    }
    assert gate.reopened_items(TEMPLATE, gate.Standing(7, shipped=False), set(), set()) == {
        item.key for number in range(1, 7) for item in TEMPLATE.phase(number).items
    }
