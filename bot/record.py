"""The project's record: every event read back from storage, as a private timeline
(`/distill history`) or as a Markdown report and a CSV uploaded into the thread (`/distill export`).

Nothing here changes stored state. The timeline covers every cycle of the channel's newest
project: starts, owners, ticks, unticks and ticks cleared by a reopening, phases passed,
waivers, success bars and amendments, evaluations against the bars, nudge answers (drift
checks, re-distillation reviews), rollout stages, reopenings, stops and shipping.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot import permissions
from bot.checklist.evidence import BarsView, EvaluationView, compare
from bot.checklist.template import Template
from bot.core.clock import Clock
from bot.lifecycle import no_project_reply
from bot.nudges import rules
from bot.project_state import bars_view, evaluation_view
from bot.rendering import messages as render
from storage import queries
from storage.engine import session_scope
from storage.models import Owner, Project, ProjectStatus, SliceBar, SuccessBars

log = logging.getLogger(__name__)

# The private timeline shows the newest events; the export holds them all.
HISTORY_LINES = 60
HISTORY_DETAIL_SHOWN = 160
CSV_HEADER = ("at_utc", "cycle", "phase", "event", "item", "user_id", "user", "detail")

# Within one instant, events read in the order they happen.
_RANK = {
    "started": 0,
    "owner_added": 1,
    "bars_recorded": 2,
    "bars_amended": 2,
    "evaluation": 3,
    "tick": 4,
    "untick": 4,
    "cleared": 4,
    "waived": 4,
    "waiver_ended": 4,
    "phase_passed": 5,
    "shipped": 6,
    "rollout": 7,
    "drift_check": 8,
    "redistill_review": 8,
    "nudge_answer": 8,
    "reopened": 9,
    "stopped": 10,
}
_VERBS = {
    "started": "started the project",
    "owner_added": "became an owner",
    "bars_recorded": "recorded the success bars",
    "bars_amended": "amended the committed bars",
    "evaluation": "recorded an evaluation",
    "tick": "ticked",
    "untick": "unticked",
    "cleared": "tick moved to the record (phase reopened)",
    "waived": "waived",
    "waiver_ended": "waiver ended",
    "phase_passed": "phase passed",
    "shipped": "shipped",
    "rollout": "rollout stage",
    "drift_check": "drift check",
    "redistill_review": "re-distillation review",
    "nudge_answer": "answered a reminder",
    "reopened": "reopened the phase",
    "stopped": "stopped the project",
}


@dataclass(frozen=True)
class RecordedEvent:
    at: datetime
    cycle: int
    phase: int | None
    kind: str
    item: str  # the item's key, when the event is about one item
    user_id: str
    detail: str  # plain text, as typed or derived; escaped wherever it meets mrkdwn
    sequence: int = 0  # the row id within its table, for a stable order


@dataclass(frozen=True)
class ProjectRecordData:
    """A project (its newest cycle) and everything recorded about it."""

    project: Project
    cycles: list[Project]
    events: list[RecordedEvent]


class ProjectRecord:
    def __init__(self, engine: Engine, template: Template, slack: WebClient, clock: Clock) -> None:
        self.engine = engine
        self.template = template
        self.slack = slack
        self.clock = clock

    # --- reading --------------------------------------------------------------------------------

    def read(self, session: Session, project: Project) -> ProjectRecordData:
        cycles = queries.list_cycles(session, project)
        events = [event for cycle in cycles for event in self._cycle_events(session, cycle)]
        events.sort(key=lambda e: (e.at, e.cycle, _RANK.get(e.kind, 99), e.sequence))
        return ProjectRecordData(project, cycles, events)

    def _cycle_events(self, session: Session, project: Project) -> list[RecordedEvent]:
        project_id, cycle = project.id or 0, project.cycle
        started = "cycle started" if cycle > 1 else f"project {project.name}"
        events = [RecordedEvent(project.started_at, cycle, None, "started", "", project.started_by, started)]
        owners = session.exec(
            select(Owner).where(Owner.project_id == project_id).order_by(col(Owner.id))
        ).all()
        events += [
            RecordedEvent(
                o.added_at, cycle, None, "owner_added", "", o.user_id, f"added by {o.added_by}", o.id or 0
            )
            for o in owners
        ]
        for tick in queries.list_tick_events(session, project_id):
            events.append(
                RecordedEvent(
                    tick.at,
                    cycle,
                    tick.phase_number,
                    tick.action,
                    tick.item_key,
                    tick.user_id,
                    self._item_title(tick.item_key),
                    tick.id or 0,
                )
            )
        for waiver in queries.list_waivers(session, project_id):
            until = f" (until {_utc(waiver.expires_at)})" if waiver.expires_at else ""
            events.append(
                RecordedEvent(
                    waiver.waived_at,
                    cycle,
                    waiver.phase_number,
                    "waived",
                    waiver.item_key,
                    waiver.waived_by,
                    f"{self._item_title(waiver.item_key)}: {waiver.reason}{until}",
                    waiver.id or 0,
                )
            )
            if waiver.ended_at is not None:
                events.append(
                    RecordedEvent(
                        waiver.ended_at,
                        cycle,
                        waiver.phase_number,
                        "waiver_ended",
                        waiver.item_key,
                        "",
                        self._item_title(waiver.item_key),
                        waiver.id or 0,
                    )
                )
        bars_by_id: dict[int, BarsView] = {}
        for bars, slices in _all_bars(session, project_id):
            view = bars_view(bars, slices)
            bars_by_id[bars.id or 0] = view
            kind = "bars_amended" if bars.amendment_reason else "bars_recorded"
            detail = _bars_text(view) + (
                f"; reason: {bars.amendment_reason}" if bars.amendment_reason else ""
            )
            events.append(
                RecordedEvent(bars.recorded_at, cycle, 2, kind, "", bars.recorded_by, detail, bars.id or 0)
            )
        for evaluation in queries.list_evaluations(session, project_id):
            scores = queries.list_slice_scores(session, evaluation.id or 0)
            view_e = evaluation_view(evaluation, scores)
            judged_against = bars_by_id.get(evaluation.bars_id)
            events.append(
                RecordedEvent(
                    evaluation.recorded_at,
                    cycle,
                    6,
                    "evaluation",
                    "",
                    evaluation.recorded_by,
                    _evaluation_text(view_e, judged_against),
                    evaluation.id or 0,
                )
            )
        for nudge in queries.list_nudges(session, project_id):
            if nudge.answer is None or nudge.answered_at is None:
                continue
            answer = rules.Answer.from_key(nudge.answer)
            label = answer.label if answer else nudge.answer
            kind = {
                rules.DRIFT: "drift_check",
                rules.REDISTILL: "redistill_review",
                rules.REDISTILL_OFFER: "redistill_review",
            }.get(nudge.kind, "nudge_answer")
            events.append(
                RecordedEvent(
                    nudge.answered_at, cycle, None, kind, "", nudge.answered_by or "", label, nudge.id or 0
                )
            )
        for event in queries.list_project_events(session, project_id):
            detail = event.detail or ""
            if event.kind == "rollout":
                detail = render.ROLLOUT_LABELS.get(detail, detail)
            elif event.kind == "phase_passed" and event.phase_number:
                detail = self.template.phase(event.phase_number).title
            events.append(
                RecordedEvent(
                    event.at, cycle, event.phase_number, event.kind, "", event.user_id, detail, event.id or 0
                )
            )
        return events

    def _item_title(self, item_key: str) -> str:
        item = self.template.item(item_key)
        return item.title if item else item_key

    def _channel_record(
        self, team_id: str, channel_id: str, user_id: str, permission: permissions.Permission
    ) -> ProjectRecordData | str:
        with session_scope(self.engine) as session:
            project = queries.latest_channel_project(session, team_id, channel_id)
            if project is None:
                return no_project_reply(session, team_id, channel_id)
            refusal = permissions.refusal(
                session, project, permission, user_id=user_id, team_id=team_id, channel_id=channel_id
            )
            return refusal or self.read(session, project)

    # --- /distill history -----------------------------------------------------------------------

    def history(self, team_id: str, channel_id: str, user_id: str) -> str:
        """The timeline, privately: the newest events, each with who, when and what."""
        data = self._channel_record(team_id, channel_id, user_id, permissions.HISTORY)
        if isinstance(data, str):
            return data
        shown = data.events[-HISTORY_LINES:]
        lines = [
            f"*History of {render.escape(data.project.name)}* ({len(data.events)} events, "
            f"{len(data.cycles)} cycle{'s' if len(data.cycles) != 1 else ''}; {_status(data.project)})"
        ]
        if len(shown) < len(data.events):
            lines.append(f"_The newest {len(shown)}; `/distill export` uploads every event._")
        lines += [self._history_line(event) for event in shown]
        return "\n".join(lines)

    def _history_line(self, event: RecordedEvent) -> str:
        where = f"cycle {event.cycle}" + (f" · Phase {event.phase}" if event.phase else "")
        who = f"<@{event.user_id}> " if event.user_id else ""
        detail = render.clip(event.detail, HISTORY_DETAIL_SHOWN) if event.detail else ""
        return f"`{_utc(event.at)}` {where} · {who}{_VERBS.get(event.kind, event.kind)}: {detail}".rstrip(
            ": "
        )

    # --- /distill export ------------------------------------------------------------------------

    def export(self, team_id: str, channel_id: str, user_id: str) -> str:
        """Upload the report and the CSV into the project's thread."""
        data = self._channel_record(team_id, channel_id, user_id, permissions.EXPORT)
        if isinstance(data, str):
            return data
        with session_scope(self.engine) as session:
            thread_ts = queries.get_thread_ts(session, data.project.id or 0)
        names = self._user_names({event.user_id for event in data.events if event.user_id} | {user_id})
        report = markdown_report(self.template, data, names, exported_at=self.clock(), exported_by=user_id)
        table = csv_events(data.events, names)
        slug = (
            "".join(ch if ch.isalnum() else "-" for ch in data.project.name.lower()).strip("-")[:40]
            or "project"
        )
        try:
            self.slack.files_upload_v2(
                file_uploads=[
                    {
                        "filename": f"distill-{slug}-report.md",
                        "content": report,
                        "title": f"{data.project.name}: report",
                    },
                    {
                        "filename": f"distill-{slug}-events.csv",
                        "content": table,
                        "title": f"{data.project.name}: every event",
                    },
                ],
                channel=data.project.channel_id,
                thread_ts=thread_ts,
                initial_comment=(
                    f"Export of *{render.escape(data.project.name)}* for <@{user_id}>: the report and every "
                    f"recorded event ({len(data.events)})."
                ),
            )
        except SlackApiError as error:
            reason = str(error.response.get("error", "unknown_error"))
            log.warning("export upload refused: %s", reason)
            if reason in {"not_in_channel", "channel_not_found"}:
                return (
                    "I can't upload files in this channel: invite me (`/invite @Distill Bot`) and try again."
                )
            return f"Slack did not take the export ({reason}). Try again in a minute."
        except SlackClientError as error:
            log.warning("export upload failed: %s", type(error).__name__)
            return "Slack did not take the export. Try again in a minute."
        return f"Uploaded the report and a CSV of all {len(data.events)} events to the project's thread."

    def _user_names(self, user_ids: set[str]) -> dict[str, str]:
        """Display names for the report, one users.info each; the id where Slack does not say."""
        names = {}
        for user_id in sorted(user_ids):
            try:
                user = self.slack.users_info(user=user_id)["user"]
                names[user_id] = str(
                    user.get("profile", {}).get("display_name") or user.get("real_name") or user_id
                )
            except (SlackClientError, KeyError, TypeError):
                names[user_id] = user_id
        return names


# --- documents (pure) --------------------------------------------------------------------------------


# A spreadsheet reads a cell starting with one of these as a formula (`=HYPERLINK(...)` typed as
# a reopen reason, or as a display name); a leading apostrophe keeps it text (OWASP's advice).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def csv_events(events: list[RecordedEvent], names: dict[str, str]) -> str:
    """One row per event, under a header; text that a spreadsheet would run is kept text."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for event in events:
        writer.writerow(
            [
                event.at.isoformat(),
                event.cycle,
                event.phase or "",
                event.kind,
                _inert(event.item),
                _inert(event.user_id),
                _inert(names.get(event.user_id, event.user_id)),
                _inert(event.detail),
            ]
        )
    return out.getvalue()


def markdown_report(
    template: Template,
    data: ProjectRecordData,
    names: dict[str, str],
    *,
    exported_at: datetime,
    exported_by: str,
) -> str:
    """A document to print or share: each cycle phase by phase, then every event."""

    def who(user_id: str) -> str:
        return _md(names.get(user_id, user_id)) if user_id else ""

    project = data.project
    lines = [
        f"# Distillation report: {_md(project.name)}",
        "",
        f"- Checklist: {_md(template.title)}",
        f"- Status: {_status(project)}",
        f"- Cycles: {len(data.cycles)}",
        f"- Exported {_utc(exported_at)} UTC by {who(exported_by)}",
        "",
    ]
    if project.stopped_at is not None:
        outcome = (
            "A cheaper option cleared our targets: a win, not a failure."
            if project.outcome == "win"
            else f"Stopped: {_md(project.outcome_reason or '')}"
        )
        lines += [
            "## Outcome",
            "",
            f"{outcome} ({who(project.stopped_by or '')}, {_utc(project.stopped_at)} UTC)",
            "",
        ]
    for cycle in data.cycles:
        lines += _cycle_section(template, cycle, [e for e in data.events if e.cycle == cycle.cycle], who)
    lines += [
        "## Every recorded event",
        "",
        "| # | when (UTC) | cycle | phase | event | item | who | detail |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, event in enumerate(data.events, start=1):
        lines.append(
            f"| {number} | {_utc(event.at)} | {event.cycle} | {event.phase or ''} | {event.kind} | "
            f"{event.item} | {who(event.user_id)} | {_md(event.detail)} |"
        )
    return "\n".join(lines) + "\n"


def _cycle_section(
    template: Template, cycle: Project, events: list[RecordedEvent], who: Callable[[str], str]
) -> list[str]:
    lines = [f"## Cycle {cycle.cycle} (started {_utc(cycle.started_at)} UTC by {who(cycle.started_by)})", ""]
    latest_tick: dict[str, RecordedEvent] = {}
    for event in events:
        if event.kind in {"tick", "untick", "cleared"}:
            latest_tick[event.item] = event
    waivers = {e.item: e for e in events if e.kind == "waived"}
    ended = {e.item for e in events if e.kind == "waiver_ended"}
    passed = {e.phase: e for e in events if e.kind == "phase_passed"}
    for number, phase in enumerate(template.phases, start=1):
        state = f"passed {_utc(passed[number].at)} UTC" if number in passed else "not passed"
        if (
            cycle.status != ProjectStatus.SHIPPED
            and number == cycle.current_phase
            and cycle.closed_at is None
        ):
            state = "open"
        lines += [f"### Phase {number}: {_md(phase.title)} ({state})", ""]
        for item in phase.items:
            tick = latest_tick.get(item.key)
            waiver = waivers.get(item.key)
            if tick is not None and tick.kind == "tick":
                lines.append(f"- [x] {_md(item.title)} (ticked by {who(tick.user_id)}, {_utc(tick.at)} UTC)")
            elif waiver is not None and item.key not in ended:
                lines.append(
                    f"- [~] {_md(item.title)} (waived by {who(waiver.user_id)}, {_utc(waiver.at)} UTC: "
                    f"{_md(waiver.detail)})"
                )
            else:
                lines.append(f"- [ ] {_md(item.title)}")
        lines.append("")
    for heading, kinds in (
        ("Success bars and amendments", {"bars_recorded", "bars_amended"}),
        ("Evaluations against the bars", {"evaluation"}),
        ("Drift checks and re-distillation reviews", {"drift_check", "redistill_review"}),
        ("Rollout stages", {"rollout"}),
        ("Reopenings and stops", {"reopened", "stopped"}),
    ):
        chosen = [e for e in events if e.kind in kinds]
        if chosen:
            lines += [f"### {heading}", ""]
            lines += [
                f"- {_utc(e.at)} UTC, {who(e.user_id)}: "
                + (f"Phase {e.phase}: " if e.kind == "reopened" else "")
                + _md(e.detail)
                for e in chosen
            ]
            lines.append("")
    return lines


def _status(project: Project) -> str:
    if project.status == ProjectStatus.STOPPED:
        return "stopped (a win)" if project.outcome == "win" else "stopped"
    if project.status == ProjectStatus.SHIPPED:
        return f"shipped {_utc(project.shipped_at)} UTC" if project.shipped_at else "shipped"
    if project.nudges_paused_reason:
        return "paused"
    return f"open, Phase {project.current_phase}"


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _md(text: str) -> str:
    """One line of a Markdown table or list: no line breaks, no stray pipes."""
    return " ".join(text.split()).replace("|", "\\|")


def _all_bars(session: Session, project_id: int) -> list[tuple[SuccessBars, list[SliceBar]]]:
    rows = session.exec(
        select(SuccessBars).where(SuccessBars.project_id == project_id).order_by(col(SuccessBars.id))
    ).all()
    return [
        (
            row,
            list(
                session.exec(
                    select(SliceBar).where(SliceBar.bars_id == row.id).order_by(col(SliceBar.id))
                ).all()
            ),
        )
        for row in rows
    ]


def _bars_text(bars: BarsView) -> str:
    parts = [f"{bars.quality_metric} >= {bars.quality_threshold:g}"]
    parts += [
        f"{s.name} ({s.metric}) >= {s.threshold:g}{' critical' if s.critical else ''}" for s in bars.slices
    ]
    if bars.cost_target is not None:
        parts.append(f"cost <= {bars.cost_target:g} per 1,000 requests")
    if bars.latency_p95_ms is not None:
        parts.append(f"p95 latency <= {bars.latency_p95_ms:g} ms")
    if bars.acceptable_gap is not None:
        parts.append(f"gap to teacher <= {bars.acceptable_gap:g}")
    return "; ".join(parts)


def _evaluation_text(evaluation: EvaluationView, bars: BarsView | None) -> str:
    parts = [f"student {evaluation.student_score:g} / teacher {evaluation.teacher_score:g}"]
    parts += [f"{name} {s:g} / {t:g}" for name, (s, t) in evaluation.slice_scores.items()]
    if evaluation.latency_p95_ms is not None:
        parts.append(f"p95 {evaluation.latency_p95_ms:g} ms")
    if evaluation.cost is not None:
        parts.append(f"cost {evaluation.cost:g}")
    if bars is not None:
        rows = compare(bars, evaluation).rows
        judged = [row for row in rows if row.passed is not None]
        failing = [row.label for row in judged if not row.passed]
        parts.append(f"{len(judged) - len(failing)}/{len(judged)} bars pass")
        if failing:
            parts.append("failing: " + ", ".join(failing))
    return "; ".join(parts)
