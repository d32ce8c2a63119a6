"""The evidence rules at their edges: a number exactly at its bar passes, every committed slice
needs a score in the newest evaluation. Pure: no Slack, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.checklist import gate
from bot.checklist.evidence import (
    BarsView,
    EvaluationView,
    Evidence,
    SliceBarView,
    compare,
    missing_evidence,
)
from bot.checklist.template import load_template

TEMPLATE = load_template()
WHEN = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)

# Binary fractions, so "exactly at the bar" is exact in floating point too (0.75 - 0.5 == 0.25).
BARS = BarsView(
    quality_metric="accuracy",
    quality_threshold=0.5,
    slices=(
        SliceBarView("billing", "accuracy", 0.625, critical=True),
        SliceBarView("smalltalk", "f1", 0.375, critical=False),
    ),
    cost_target=0.25,
    latency_p95_ms=250.0,
    acceptable_gap=0.25,
    recorded_by="UALICE",
    recorded_at=WHEN,
)
AT_EVERY_BAR = EvaluationView(
    evaluation_id=1,
    student_score=0.5,
    teacher_score=0.75,
    slice_scores={"billing": (0.625, 0.75), "smalltalk": (0.375, 0.5)},
    latency_p95_ms=250.0,
    cost=0.25,
    recorded_by="UALICE",
    recorded_at=WHEN,
)
EPSILON = 2**-10


def _passed(evaluation: EvaluationView, bars: BarsView = BARS) -> dict[str, bool | None]:
    return {row.label: row.passed for row in compare(bars, evaluation).rows}


def test_a_number_exactly_at_its_bar_passes_every_threshold() -> None:
    assert _passed(AT_EVERY_BAR) == {
        "Overall (accuracy)": True,
        "billing (accuracy)": True,
        "smalltalk (f1)": True,
        "Gap to the teacher": True,
        "Latency p95 (ms)": True,
        "Cost per 1,000 requests": True,
    }
    assert compare(BARS, AT_EVERY_BAR).failing_critical == []
    assert missing_evidence("critical-slices-pass", Evidence(BARS, AT_EVERY_BAR)) is None


@pytest.mark.parametrize(
    ("change", "failing_row"),
    [
        ({"student_score": 0.5 - EPSILON, "teacher_score": 0.75 - EPSILON}, "Overall (accuracy)"),
        (
            {"slice_scores": {"billing": (0.625 - EPSILON, 0.75), "smalltalk": (0.375, 0.5)}},
            "billing (accuracy)",
        ),
        ({"slice_scores": {"billing": (0.625, 0.75), "smalltalk": (0.375 - EPSILON, 0.5)}}, "smalltalk (f1)"),
        ({"teacher_score": 0.75 + EPSILON}, "Gap to the teacher"),
        ({"latency_p95_ms": 250.0 + EPSILON}, "Latency p95 (ms)"),
        ({"cost": 0.25 + EPSILON}, "Cost per 1,000 requests"),
    ],
)
def test_a_hair_past_a_bar_fails_that_row_alone(change: dict, failing_row: str) -> None:
    passed = _passed(replace(AT_EVERY_BAR, **change))
    assert [label for label, ok in passed.items() if ok is False] == [failing_row]


def test_only_critical_slices_that_fail_block_the_critical_item() -> None:
    below_both = replace(AT_EVERY_BAR, slice_scores={"billing": (0.5, 0.75), "smalltalk": (0.25, 0.5)})
    assert [row.label for row in compare(BARS, below_both).failing_critical] == ["billing (accuracy)"]
    refusal = missing_evidence("critical-slices-pass", Evidence(BARS, below_both))
    assert refusal is not None and refusal.slices == ("billing (accuracy)",)

    only_smalltalk_below = replace(
        AT_EVERY_BAR, slice_scores={"billing": (0.625, 0.75), "smalltalk": (0.25, 0.5)}
    )
    assert missing_evidence("critical-slices-pass", Evidence(BARS, only_smalltalk_below)) is None


def test_rows_without_a_bar_or_a_measurement() -> None:
    no_targets = replace(BARS, cost_target=None, latency_p95_ms=None, acceptable_gap=None)
    unmeasured = replace(AT_EVERY_BAR, latency_p95_ms=None, cost=None)
    rows = {row.label: row for row in compare(no_targets, unmeasured).rows}
    assert rows["Gap to the teacher"].passed is None and rows["Gap to the teacher"].bar == "none set"
    assert rows["Latency p95 (ms)"].passed is None and rows["Latency p95 (ms)"].measured == "not measured"
    assert rows["Cost per 1,000 requests"].passed is None
    # A target with nothing measured against it fails: an unmeasured cost is not a cost met.
    rows = {row.label: row for row in compare(BARS, unmeasured).rows}
    assert rows["Latency p95 (ms)"].passed is False and rows["Cost per 1,000 requests"].passed is False


# --- the newest evaluation must score every committed slice -----------------------------------

AMENDED = replace(BARS, slices=(*BARS.slices, SliceBarView("refunds", "accuracy", 0.5, critical=False)))


@pytest.mark.parametrize("kind", ["evaluation-slices", "critical-slices-pass"])
def test_an_evaluation_missing_a_committed_slice_does_not_count(kind: str) -> None:
    refusal = missing_evidence(kind, Evidence(AMENDED, AT_EVERY_BAR))
    assert refusal is not None and refusal.slices == ("refunds",)
    assert missing_evidence(kind, Evidence(BARS, AT_EVERY_BAR)) is None


def test_the_overall_evaluation_item_does_not_need_every_slice() -> None:
    assert missing_evidence("evaluation", Evidence(AMENDED, AT_EVERY_BAR)) is None
    assert missing_evidence("evaluation", Evidence(AMENDED, None)) is not None
    assert missing_evidence("evaluation", Evidence(None, AT_EVERY_BAR)) is not None


def test_a_slice_added_by_an_amendment_uncounts_the_by_slice_tick() -> None:
    keys = {item.key: item.evidence for item in TEMPLATE.phase(6).items}
    by_slice = next(key for key, kind in keys.items() if kind == "evaluation-slices")
    ticked = {key for key, kind in keys.items() if kind is not None}
    assert by_slice in gate.counted(TEMPLATE, ticked, set(), Evidence(BARS, AT_EVERY_BAR))
    assert by_slice not in gate.counted(TEMPLATE, ticked, set(), Evidence(AMENDED, AT_EVERY_BAR))
    assert by_slice in gate.counted(TEMPLATE, ticked, {by_slice}, Evidence(AMENDED, AT_EVERY_BAR))
