"""The numbers behind the boxes: committed success bars, evaluations against them. Pure.

Scores are "higher is better" (accuracy, F1, pass rate); latency and cost are "at most".
The acceptable gap is how many points of the quality metric the student may trail the teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SliceBarView:
    name: str
    metric: str
    threshold: float
    critical: bool
    bar_id: int = 0  # the stored slice_bar row; 0 until stored


@dataclass(frozen=True)
class BarsView:
    quality_metric: str
    quality_threshold: float
    slices: tuple[SliceBarView, ...]
    cost_target: float | None
    latency_p95_ms: float | None
    acceptable_gap: float | None
    recorded_by: str
    recorded_at: datetime
    amendment_reason: str | None = None
    bars_id: int = 0  # the stored success_bars row: which recording of the bars this is


@dataclass(frozen=True)
class EvaluationView:
    evaluation_id: int
    student_score: float
    teacher_score: float
    slice_scores: dict[str, tuple[float, float]]  # name -> (student, teacher)
    latency_p95_ms: float | None
    cost: float | None
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True)
class Evidence:
    bars: BarsView | None = None
    evaluation: EvaluationView | None = None  # the newest
    committed_at: datetime | None = None
    committed_by: str | None = None
    # The project has been through a partial rollout stage (5 or 25 percent of traffic).
    partial_rollout: bool = False


@dataclass(frozen=True)
class Row:
    """One line of the evaluation table."""

    label: str
    bar: str
    measured: str
    passed: bool | None  # None: no bar to compare with
    critical: bool = False


@dataclass(frozen=True)
class Comparison:
    rows: list[Row] = field(default_factory=list)

    @property
    def failing_critical(self) -> list[Row]:
        return [row for row in self.rows if row.critical and row.passed is False]


@dataclass(frozen=True)
class Missing:
    """Why an item that states a number cannot be ticked yet. Plain data: the renderer words it
    for Slack (rendering/messages.py `missing_evidence_text`), escaping the slice names."""

    needs: str  # an evidence kind, or "slice-scores" / "critical-slices-fail" (see `slices`)
    slices: tuple[str, ...] = ()  # the committed slices unscored, or the critical rows failing


def missing_evidence(kind: str | None, evidence: Evidence) -> Missing | None:
    """Why an item that states a number cannot be ticked yet, or None when it can."""
    bars, evaluation = evidence.bars, evidence.evaluation
    if kind is None:
        return None
    if kind == "partial-rollout" and not evidence.partial_rollout:
        return Missing(kind)
    if kind == "quality-bar" and bars is None:
        return Missing(kind)
    if kind == "slice-bars" and (bars is None or not bars.slices):
        return Missing(kind)
    if kind == "cost-latency-targets" and (
        bars is None or bars.cost_target is None or bars.latency_p95_ms is None
    ):
        return Missing(kind)
    if kind == "acceptable-gap" and (bars is None or bars.acceptable_gap is None):
        return Missing(kind)
    if kind in {"evaluation", "evaluation-slices", "critical-slices-pass"}:
        if evaluation is None or bars is None:
            return Missing("evaluation")
        missing = tuple(bar.name for bar in bars.slices if bar.name not in evaluation.slice_scores)
        if kind != "evaluation" and missing:
            return Missing("slice-scores", missing)
        if kind == "critical-slices-pass":
            failing = compare(bars, evaluation).failing_critical
            if failing:
                return Missing("critical-slices-fail", tuple(row.label for row in failing))
    return None


def compare(bars: BarsView, evaluation: EvaluationView) -> Comparison:
    """The evaluation against the bars: one row per bar."""
    rows = [
        Row(
            f"Overall ({bars.quality_metric})",
            f"≥ {_num(bars.quality_threshold)}",
            _num(evaluation.student_score),
            evaluation.student_score >= bars.quality_threshold,
        )
    ]
    for bar in bars.slices:
        scores = evaluation.slice_scores.get(bar.name)
        rows.append(
            Row(
                f"{bar.name} ({bar.metric})",
                f"≥ {_num(bar.threshold)}",
                _num(scores[0]) if scores else "not measured",
                scores[0] >= bar.threshold if scores else False,
                critical=bar.critical,
            )
        )
    gap = evaluation.teacher_score - evaluation.student_score
    rows.append(
        Row(
            "Gap to the teacher",
            f"≤ {_num(bars.acceptable_gap)}" if bars.acceptable_gap is not None else "none set",
            f"{_num(gap)} (teacher {_num(evaluation.teacher_score)})",
            gap <= bars.acceptable_gap if bars.acceptable_gap is not None else None,
        )
    )
    for label, target, measured in (
        ("Latency p95 (ms)", bars.latency_p95_ms, evaluation.latency_p95_ms),
        ("Cost per 1,000 requests", bars.cost_target, evaluation.cost),
    ):
        rows.append(
            Row(
                label,
                f"≤ {_num(target)}" if target is not None else "none set",
                _num(measured) if measured is not None else "not measured",
                None if target is None else (measured is not None and measured <= target),
            )
        )
    return Comparison(rows)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:g}"
