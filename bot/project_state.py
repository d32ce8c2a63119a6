"""Stored state read into the plain views that the checklist rules and the renderers take.

Nothing here talks to Slack or changes anything: the workflow, governance, nudges and the
Slack sync all read a project the same way through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.checklist import evidence, gate
from bot.checklist.template import Template
from bot.rendering import messages as render
from storage import queries
from storage.models import (
    Evaluation,
    Outcome,
    PostedMessage,
    Project,
    ProjectEventKind,
    ProjectStatus,
    SliceBar,
    SliceScore,
    SuccessBars,
    Tick,
    Waiver,
)

# Rollout stages that send part, not all, of the traffic to the student.
PARTIAL_ROLLOUT_STAGES = frozenset({"5", "25"})

NO_PROJECT = "There is no distillation project in this channel yet. Start one with `/distill start [name]`."


def channel_project(session: Session, team_id: str, channel_id: str) -> Project | None:
    """The channel's open project, once it is fully started."""
    project = queries.get_open_project(session, team_id, channel_id)
    return None if project is None or project.status == ProjectStatus.STARTING else project


def in_force(waiver: Waiver, now: datetime) -> bool:
    """A waiver counts until its end, whether or not the sweep has recorded that end yet."""
    return waiver.ended_at is None and (waiver.expires_at is None or waiver.expires_at > now)


def waivers_in_force(session: Session, project: Project, now: datetime) -> list[Waiver]:
    return [waiver for waiver in queries.list_waivers(session, project.id or 0) if in_force(waiver, now)]


@dataclass(frozen=True)
class GateFacts:
    """What the gate decides from, read once: a click's checks and the gate after it share them."""

    ticks: list[Tick]
    waived: set[str]  # items whose waiver is in force
    evidence: evidence.Evidence

    @property
    def ticked(self) -> set[str]:
        return {tick.item_key for tick in self.ticks}

    def done(self, template: Template, ticked: set[str] | None = None) -> set[str]:
        """Items that count for the gate (see gate.counted); `ticked` as it is after a change."""
        return gate.counted(template, self.ticked if ticked is None else ticked, self.waived, self.evidence)


def gate_facts(session: Session, project: Project, now: datetime) -> GateFacts:
    waived = {waiver.item_key for waiver in waivers_in_force(session, project, now)}
    return GateFacts(queries.list_ticks(session, project.id or 0), waived, load_evidence(session, project))


def done_items(session: Session, project: Project, template: Template, now: datetime) -> set[str]:
    """Items that count for the gate at `now` (see gate.counted)."""
    return gate_facts(session, project, now).done(template)


def load_evidence(session: Session, project: Project) -> evidence.Evidence:
    """The bars in force and the newest evaluation, as the rules and renderers see them.
    Evidence recorded before its phase was reopened does not count."""
    project_id = project.id or 0
    found = queries.current_bars(session, project_id, after_id=project.bars_void_through)
    bars = bars_view(*found) if found else None
    found_evaluation = queries.latest_evaluation(
        session, project_id, after_id=project.evaluations_void_through
    )
    latest = evaluation_view(*found_evaluation) if found_evaluation else None
    return evidence.Evidence(
        bars=bars,
        evaluation=latest,
        committed_at=project.bars_committed_at,
        committed_by=project.bars_committed_by,
        partial_rollout=any(
            event.detail in PARTIAL_ROLLOUT_STAGES and (event.id or 0) > project.rollout_void_through
            for event in queries.list_project_events(session, project_id, kind=ProjectEventKind.ROLLOUT)
        ),
    )


def evaluation_and_bars(
    session: Session, evaluation_id: int
) -> tuple[evidence.BarsView, evidence.EvaluationView]:
    """One evaluation and the bars it was recorded against (for its table in the thread)."""
    found = queries.get_evaluation(session, evaluation_id)
    if found is None:
        raise LookupError(f"evaluation {evaluation_id} vanished")
    evaluation, scores = found
    bars = queries.get_bars(session, evaluation.bars_id)
    if bars is None:
        raise LookupError(f"bars {evaluation.bars_id} vanished")
    return bars_view(*bars), evaluation_view(evaluation, scores)


def bars_view(row: SuccessBars, slices: list[SliceBar]) -> evidence.BarsView:
    return evidence.BarsView(
        quality_metric=row.quality_metric,
        quality_threshold=row.quality_threshold,
        slices=tuple(
            evidence.SliceBarView(s.name, s.metric, s.threshold, s.critical, bar_id=s.id or 0) for s in slices
        ),
        cost_target=row.cost_target,
        latency_p95_ms=row.latency_p95_ms,
        acceptable_gap=row.acceptable_gap,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        amendment_reason=row.amendment_reason,
        bars_id=row.id or 0,
    )


def evaluation_view(row: Evaluation, scores: list[SliceScore]) -> evidence.EvaluationView:
    return evidence.EvaluationView(
        evaluation_id=row.id or 0,
        student_score=row.student_score,
        teacher_score=row.teacher_score,
        slice_scores={score.name: (score.student_score, score.teacher_score) for score in scores},
        latency_p95_ms=row.latency_p95_ms,
        cost=row.cost,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )


def project_view(session: Session, project: Project, template: Template, now: datetime) -> render.ProjectView:
    """The project as it stands at `now` (a waiver past its end no longer counts)."""
    ticks = queries.list_ticks(session, project.id or 0)
    waivers = waivers_in_force(session, project, now)
    proof = load_evidence(session, project)
    return render.ProjectView(
        counted_keys=frozenset(
            gate.counted(template, {t.item_key for t in ticks}, {w.item_key for w in waivers}, proof)
        ),
        waivers={
            w.item_key: render.WaiverView(w.waived_by, w.waived_at, w.reason, w.expires_at) for w in waivers
        },
        evidence=proof,
        cycle=project.cycle,
        closed=project.closed_at is not None,
        project_id=project.id or 0,
        name=project.name,
        started_by=project.started_by,
        started_at=project.started_at,
        current_phase=project.current_phase,
        shipped=project.status == ProjectStatus.SHIPPED,
        shipped_at=project.shipped_at,
        version=project.version,
        permalink=project.permalink,
        ticks={tick.item_key: render.TickView(tick.ticked_by, tick.ticked_at) for tick in ticks},
        stop=(
            render.StopView(
                project.stopped_by or "",
                project.stopped_at,
                project.outcome == Outcome.WIN,
                project.outcome_reason,
            )
            if project.stopped_at is not None
            else None
        ),
        rollout=(
            render.RolloutView(project.rollout_stage, project.rollout_since)
            if project.rollout_stage and project.rollout_since
            else None
        ),
    )


def must_get(session: Session, project_id: int) -> Project:
    project = queries.get_project(session, project_id)
    if project is None:
        raise LookupError(f"project {project_id} vanished")
    return project


def must_get_message(session: Session, message_id: int) -> PostedMessage:
    message = queries.get_message(session, message_id)
    if message is None:
        raise LookupError(f"message {message_id} vanished")
    return message
