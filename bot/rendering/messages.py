"""Block Kit for every message the bot sends, drawn from a snapshot of stored state.

Everything here fits Slack's limits by construction, for every input the forms accept: the
template's text is bounded when it loads (checklist/template.py), and what users type (names,
slices, evaluations) is escaped, then packed into as many blocks as it needs within the
message's text budget, the rest summarised ("…and 12 more slices") rather than refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.checklist.evidence import BarsView, EvaluationView, Evidence, Missing, compare
from bot.checklist.gate import CYCLE_CARRIES_PHASES, open_items
from bot.checklist.template import Template
from bot.rendering.ids import ItemRef, item_action_id, item_block_id
from bot.rendering.mrkdwn import MESSAGE_TEXT_BUDGET, clip, cut, escape, pack

__all__ = ["clip", "escape"]  # the one way user text enters mrkdwn, for every caller

Block = dict[str, Any]
PROGRESS_BAR_WIDTH = 16


@dataclass(frozen=True)
class TickView:
    user_id: str
    at: datetime


@dataclass(frozen=True)
class WaiverView:
    user_id: str
    at: datetime
    reason: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class StopView:
    """How and why an owner stopped the project (`/distill stop`)."""

    user_id: str
    at: datetime
    win: bool  # Phase 1: a cheaper option cleared the targets
    reason: str | None


@dataclass(frozen=True)
class RolloutView:
    stage: str  # "shadow", "5", "25" or "100"
    since: datetime


@dataclass(frozen=True)
class ProjectView:
    """What the renderers need to know about a project, read in one transaction."""

    project_id: int
    name: str
    started_by: str
    started_at: datetime
    current_phase: int
    shipped: bool
    version: int
    ticks: Mapping[str, TickView] = field(default_factory=dict)
    shipped_at: datetime | None = None
    permalink: str | None = None
    cycle: int = 1
    closed: bool = False  # a later cycle has taken over
    waivers: Mapping[str, WaiverView] = field(default_factory=dict)  # those in force
    evidence: Evidence = field(default_factory=Evidence)

    # Items that count for the gate (gate.counted), as the workflow computed them.
    counted_keys: frozenset[str] | None = None
    stop: StopView | None = None
    rollout: RolloutView | None = None

    @property
    def done_keys(self) -> set[str]:
        """Items that count for the gate: waived, or ticked with their evidence still holding."""
        return (
            set(self.counted_keys) if self.counted_keys is not None else set(self.ticks) | set(self.waivers)
        )


@dataclass(frozen=True)
class Message:
    """A message's notification `text` (always sent: Slack shows it where blocks cannot go) and blocks."""

    text: str
    blocks: list[Block]


HELP_TEXT = "\n".join(
    [
        "*Distill Bot* runs the model-distillation checklist in this channel, one phase at a time.",
        "• `/distill start [project name]`: open the project's checklist thread "
        "(the name defaults to the channel's)",
        "• `/distill status`: where the project stands, what is still open, and a link to the thread",
        "• `/distill schedule`: the project's nudges and when each comes next "
        "(`/distill schedule drift every 14d`, `... at 10:00`, `... off`)",
        "• `/distill timezone Area/City`: the time zone nudges follow",
        "• `/distill owners` (`add @someone`, `remove @someone`): who may waive items and amend bars",
        "• `/distill stop`: end the project (owners), a win when a cheaper option cleared the targets",
        "• `/distill reopen N why`: reopen passed Phase N (owners); later phases lock until it passes again",
        "• `/distill rollout shadow|5|25|100`: record the rollout stage in Phase 7 (owners)",
        "• `/distill history`: the project's timeline, for you only",
        "• `/distill export`: a Markdown report and a CSV of every event, uploaded into the thread",
        "• `/distill help`: this list",
        "Tick items in the thread; each phase opens when every item of the one before is ticked.",
    ]
)


def slack_date(moment: datetime) -> str:
    """A date each reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def phase_heading(template: Template, phase_number: int) -> str:
    phase = template.phase(phase_number)
    return f"Phase {phase_number} of {len(template.phases)}: {phase.title}"


def progress_line(template: Template, view: ProjectView) -> str:
    ticked, total = len(view.done_keys), template.item_count
    if view.shipped:
        return f"Shipped · {ticked}/{total} items"
    return f"Phase {view.current_phase} of {len(template.phases)} · {ticked}/{total} items"


def parent_message(template: Template, view: ProjectView) -> Message:
    ticked, total = len(view.done_keys), template.item_count
    filled = round(PROGRESS_BAR_WIDTH * ticked / total)
    bar = "▰" * filled + "▱" * (PROGRESS_BAR_WIDTH - filled)
    if view.shipped:
        assert view.shipped_at is not None
        standing = f":rocket: *Shipped* {slack_date(view.shipped_at)} · all {total} items ticked"
    else:
        phase = template.phase(view.current_phase)
        standing = (
            f"*Phase {view.current_phase} of {len(template.phases)}: {escape(phase.title)}*"
            f" · {ticked}/{total} items"
        )
    cycle = ""
    if view.cycle > 1:
        cycle = (
            f"Cycle {view.cycle}: phases 1–{CYCLE_CARRIES_PHASES} carried over from cycle {view.cycle - 1} · "
        )
    if view.stop is not None:
        standing = f"{stop_line(view.stop)}\n{standing}"
    elif view.closed:
        standing += f"\n:lock: Cycle {view.cycle} is closed; work goes on in cycle {view.cycle + 1}."
    if view.rollout is not None:
        standing += f"\n{rollout_line(view.rollout)}"
    return Message(
        text=f"Distillation checklist for {escape(view.name)}: {progress_line(template, view)}",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": f"Distillation: {view.name}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{standing}\n`{bar}`"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"{cycle}Started by <@{view.started_by}> {slack_date(view.started_at)}"
                        f" · {escape(template.title)} · the phases are in this thread",
                    }
                ],
            },
        ],
    )


def phase_message(template: Template, view: ProjectView, phase_number: int) -> Message:
    """The open phase as checkboxes; a passed phase as a read-only summary; a phase after the
    open one (a phase was reopened) or any phase of a stopped project, without checkboxes."""
    if view.stop is not None and not (view.shipped or phase_number < view.current_phase):
        note = stop_line(view.stop, reason_shown=STOP_REASON_SHOWN_IN_PHASE)
        return _phase_without_checkboxes(template, view, phase_number, note)
    if view.shipped or phase_number < view.current_phase:
        return _phase_summary(template, view, phase_number)
    if phase_number > view.current_phase:
        note = f":lock: Locked until Phase {view.current_phase} passes again (it was reopened)."
        return _phase_without_checkboxes(template, view, phase_number, note)
    return _open_phase(template, view, phase_number)


ROLLOUT_LABELS = {"shadow": "shadow mode", "5": "5% of traffic", "25": "25% of traffic", "100": "all traffic"}


# A waiver's reason is clipped where it shares a message with a whole phase's items: twenty
# waiver lines beside the longest template text the loader allows still fit 13,200 characters.
WAIVER_REASON_SHOWN = 60

# A stop reason is at most 300 characters as typed (modals.REASON_LENGTH); escaped, it can grow
# five-fold. The parent message and the stop's notice show 600 characters of it; a phase
# message, beside a whole phase's items and their waiver lines, as much as of a waiver's reason
# (with 600, the heaviest template's phase, every item waived, passed Slack's 13,200).
STOP_REASON_SHOWN = 600
STOP_REASON_SHOWN_IN_PHASE = WAIVER_REASON_SHOWN


def rollout_line(rollout: RolloutView) -> str:
    label = ROLLOUT_LABELS.get(rollout.stage, escape(rollout.stage))
    return f":traffic_light: Rollout: *{label}* since {slack_date(rollout.since)}"


def stop_line(stop: StopView, *, reason_shown: int = STOP_REASON_SHOWN) -> str:
    if stop.win:
        return (
            f":trophy: *Stopped in Phase 1: a cheaper option cleared our targets.* That is a win. "
            f"(<@{stop.user_id}> {slack_date(stop.at)})"
        )
    reason = clip(stop.reason or "", reason_shown)
    return f":octagonal_sign: *Stopped* by <@{stop.user_id}> {slack_date(stop.at)}: _{reason}_"


def _phase_without_checkboxes(template: Template, view: ProjectView, phase_number: int, note: str) -> Message:
    phase = template.phase(phase_number)
    heading = phase_heading(template, phase_number)
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": heading}}]
    for item in phase.items:
        tick = view.ticks.get(item.key)
        waiver = view.waivers.get(item.key)
        if tick:
            state = f":white_check_mark: <@{tick.user_id}> {slack_date(tick.at)}"
        elif waiver:
            state = waiver_line(waiver)
        else:
            state = ":white_large_square: not ticked"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(item.title)}*\n{state}"}}
        )
    blocks.append(_context(note))
    return Message(text=f"{escape(heading)} · read-only", blocks=blocks)


def _open_phase(template: Template, view: ProjectView, phase_number: int) -> Message:
    phase = template.phase(phase_number)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": phase_heading(template, phase_number)}}
    ]
    if phase.intro:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(phase.intro)}]})
    for item in phase.items:
        tick = view.ticks.get(item.key)
        text = f"*{escape(item.title)}*\n{escape(item.reason)}"
        if tick:
            text += f"\n:white_check_mark: <@{tick.user_id}> {slack_date(tick.at)}"
            if item.key not in view.done_keys and item.key not in view.waivers:
                text += "\n:warning: The newest evidence no longer supports this tick, so it does not count."
        elif item.key in view.waivers:
            text += "\n" + waiver_line(view.waivers[item.key])
        option = {"text": {"type": "plain_text", "text": "Done"}, "value": item.key}
        checkboxes: Block = {"type": "checkboxes", "action_id": item_action_id(item.key), "options": [option]}
        if tick:
            checkboxes["initial_options"] = [option]
        blocks.append(
            {
                "type": "section",
                "block_id": item_block_id(ItemRef(view.project_id, phase_number, item.key, view.version)),
                "text": {"type": "mrkdwn", "text": text},
                "accessory": checkboxes,
            }
        )
    remaining = len(open_items(template, phase_number, view.done_keys))
    done = len(phase.items) - remaining
    unlocks = (
        f"Phase {phase_number + 1} opens" if phase_number < len(template.phases) else "The project ships"
    )
    blocks.append(
        _context(f"{done}/{len(phase.items)} done · {unlocks} when every item is ticked or waived.")
    )
    buttons = _phase_buttons(template, view, phase_number, has_open=remaining > 0)
    if phase_number == bars_phase(template) and view.evidence.bars is not None:
        lines = bars_lines(view.evidence.bars)
        lines[0] = f"Recorded bars: {lines[0]}"
        budget = MESSAGE_TEXT_BUDGET - text_length(blocks) - sum(len(b["text"]["text"]) for b in buttons)
        chunks = pack(lines, budget=budget, more=_more_bars)
        blocks.append({"type": "context", "elements": [_mrkdwn(chunk) for chunk in chunks]})
    if buttons:
        blocks.append({"type": "actions", "block_id": f"phase-actions:{view.version}", "elements": buttons})
    return Message(
        text=f"{escape(phase_heading(template, phase_number))} · {done}/{len(phase.items)} ticked",
        blocks=blocks,
    )


def _phase_summary(template: Template, view: ProjectView, phase_number: int) -> Message:
    phase = template.phase(phase_number)
    heading = f"{phase_heading(template, phase_number)} (complete)"
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": heading}}]
    for item in phase.items:
        tick = view.ticks.get(item.key)
        waiver = view.waivers.get(item.key)
        if not tick and not waiver and not view.closed:
            blocks.append(_reopened_item(view, phase_number, item.key, item.title))
            continue
        who = (
            f"<@{tick.user_id}> {slack_date(tick.at)}"
            if tick
            else waiver_line(waiver)
            if waiver
            else "not ticked"
        )
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f":white_check_mark: *{escape(item.title)}*\n{who}"},
            }
        )
    return Message(text=escape(heading), blocks=blocks)


def _reopened_item(view: ProjectView, phase_number: int, key: str, title: str) -> Block:
    """An item of a passed phase whose waiver ended: open again, with a working checkbox."""
    option = {"text": {"type": "plain_text", "text": "Done"}, "value": key}
    return {
        "type": "section",
        "block_id": item_block_id(ItemRef(view.project_id, phase_number, key, view.version)),
        "text": {
            "type": "mrkdwn",
            "text": f":arrows_counterclockwise: *{escape(title)}*\nIts waiver ended, so it is open again: "
            "tick it when it is done.",
        },
        "accessory": {"type": "checkboxes", "action_id": item_action_id(key), "options": [option]},
    }


def waiver_line(waiver: WaiverView) -> str:
    until = f" (until {slack_date(waiver.expires_at)})" if waiver.expires_at else ""
    reason = clip(waiver.reason, WAIVER_REASON_SHOWN)
    return f":heavy_minus_sign: Waived by <@{waiver.user_id}> {slack_date(waiver.at)}{until}: _{reason}_"


BARS_EVIDENCE = {"quality-bar", "slice-bars", "cost-latency-targets", "acceptable-gap"}
EVALUATION_EVIDENCE = {"evaluation", "evaluation-slices", "critical-slices-pass"}


def _phase_with(template: Template, kinds: set[str]) -> int | None:
    for number, phase in enumerate(template.phases, start=1):
        if any(item.evidence in kinds for item in phase.items):
            return number
    return None


def bars_phase(template: Template) -> int | None:
    return _phase_with(template, BARS_EVIDENCE)


def evaluation_phase(template: Template) -> int | None:
    return _phase_with(template, EVALUATION_EVIDENCE)


def _phase_buttons(
    template: Template, view: ProjectView, phase_number: int, *, has_open: bool
) -> list[Block]:
    value = f"{view.project_id}:{phase_number}"
    buttons: list[Block] = []
    if phase_number == bars_phase(template):
        buttons.append(_button("bars:open", "Record success bars", value))
    if phase_number == evaluation_phase(template) and view.evidence.bars is not None:
        buttons.append(_button("evaluation:open", "Record evaluation", value))
    if has_open:
        buttons.append(_button("waive:open", "Waive an item…", value))
    return buttons


def _button(action_id: str, label: str, value: str) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def text_length(blocks: list[Block]) -> int:
    """Characters of text in blocks, counted the way Slack budgets a message (every `text`)."""

    def walk(node: Any) -> int:
        if isinstance(node, dict):
            return sum(
                len(value) if key == "text" and isinstance(value, str) else walk(value)
                for key, value in node.items()
            )
        if isinstance(node, list):
            return sum(walk(item) for item in node)
        return 0

    return walk(blocks)


def _more_bars(hidden: int) -> str:
    return f"…and {hidden} more bar{'s' if hidden != 1 else ''} (the amend form lists every bar)"


def bars_lines(bars: BarsView) -> list[str]:
    """One line per bar, production-critical slices first: they decide the gate."""
    ordered = sorted(bars.slices, key=lambda s: not s.critical)
    lines = [f"{escape(bars.quality_metric)} ≥ {bars.quality_threshold:g}"]
    lines += [
        f"• {escape(s.name)} ({escape(s.metric)}) ≥ {s.threshold:g}{' (critical)' if s.critical else ''}"
        for s in ordered
    ]
    if bars.cost_target is not None:
        lines.append(f"• cost ≤ {bars.cost_target:g} per 1,000 requests")
    if bars.latency_p95_ms is not None:
        lines.append(f"• p95 latency ≤ {bars.latency_p95_ms:g} ms")
    if bars.acceptable_gap is not None:
        lines.append(f"• gap to teacher ≤ {bars.acceptable_gap:g}")
    return lines


def bars_message(view: ProjectView) -> Message:
    """The committed bars, posted when Phase 2 passes and redrawn on each amendment."""
    evidence = view.evidence
    assert evidence.bars is not None and evidence.committed_at is not None
    blocks: list[Block] = [_section(f"*Committed success bars* for *{escape(view.name)}*")]
    footer: list[Block] = [
        _context(f"Committed by <@{evidence.committed_by}> {slack_date(evidence.committed_at)}")
    ]
    if evidence.bars.amendment_reason:
        footer.append(
            _context(
                f":pencil2: Amended after Phase 2 by <@{evidence.bars.recorded_by}> "
                f"{slack_date(evidence.bars.recorded_at)}: _{escape(evidence.bars.amendment_reason)}_"
            )
        )
    if not view.closed:
        value = f"{view.project_id}:{view.current_phase}"
        footer.append(
            {
                "type": "actions",
                "block_id": f"bars-actions:{view.version}",
                "elements": [_button("bars:open", "Amend bars (owners)", value)],
            }
        )
    budget = MESSAGE_TEXT_BUDGET - text_length(blocks) - text_length(footer)
    blocks += [_section(chunk) for chunk in pack(bars_lines(evidence.bars), budget=budget, more=_more_bars)]
    return Message(text=f"Committed success bars for {escape(view.name)}", blocks=blocks + footer)


def phase_done_message(template: Template, view: ProjectView, phase_number: int) -> Message:
    """The one-line notice posted in the thread when a phase's gate opens."""
    if phase_number == len(template.phases):
        text = f":rocket: Phase {phase_number} complete: *{escape(view.name)}* has shipped."
    else:
        following = template.phase(phase_number + 1)
        text = (
            f"Phase {phase_number} complete. Phase {phase_number + 1} is open: *{escape(following.title)}*."
        )
    return notice_message(text)


def notice_message(text: str) -> Message:
    """A one-line notice in the thread; `text` is mrkdwn whose user text is escaped already."""
    return Message(text=text, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def status_text(template: Template, view: ProjectView) -> str:
    link = (
        f"<{view.permalink}|Open the checklist thread>"
        if view.permalink
        else "The checklist thread is in this channel."
    )
    if view.shipped:
        assert view.shipped_at is not None
        return f"*{escape(view.name)}* shipped {slack_date(view.shipped_at)}; all items are ticked.\n{link}"
    still_open = open_items(template, view.current_phase, view.done_keys)
    lines = [
        f"*{escape(view.name)}* · {escape(phase_heading(template, view.current_phase))}"
        f" · {len(view.done_keys)}/{template.item_count} items ticked",
        f"Still open in Phase {view.current_phase}:",
        *(f"• {escape(item.title)}" for item in still_open),
        link,
    ]
    return "\n".join(lines)


def evaluation_message(bars: BarsView, evaluation: EvaluationView) -> Message:
    """The evaluation against the committed bars, one line per bar, failing critical slices first."""
    comparison = compare(bars, evaluation)
    marks = {True: ":white_check_mark: pass", False: ":x: fail", None: "-"}
    failing_first = sorted(comparison.rows, key=lambda row: not (row.critical and row.passed is False))
    lines = [
        f"{marks[row.passed]} · *{escape(row.label)}*{' (critical)' if row.critical else ''}"
        f" · bar {row.bar} · student {escape(row.measured)}"
        for row in failing_first
    ]
    failing = comparison.failing_critical
    verdict = (
        f":no_entry: {len(failing)} production-critical slice(s) fail: the gate stays shut unless "
        "an owner waives the critical-slices item."
        if failing
        else "No production-critical slice fails."
    )
    header: Block = {
        "type": "header",
        "text": {"type": "plain_text", "text": "Evaluation against the committed bars"},
    }
    footer = _context(
        f"{verdict} Recorded by <@{evaluation.recorded_by}> {slack_date(evaluation.recorded_at)}."
    )
    budget = MESSAGE_TEXT_BUDGET - text_length([header, footer])
    chunks = pack(lines, budget=budget, more=lambda hidden: f"…and {hidden} more bars")
    blocks: list[Block] = [header, *(_section(chunk) for chunk in chunks), footer]
    passed = sum(1 for row in comparison.rows if row.passed)
    judged = sum(1 for row in comparison.rows if row.passed is not None)
    return Message(text=f"Evaluation recorded: {passed}/{judged} bars pass", blocks=blocks)


# Slice names quoted in one answer to a tick (escaped): the answer is kept with the click
# (storage.models.CLICK_REPLY_MAX), so the names leave room for the sentence around them.
SLICE_NAMES_BUDGET = 1_500


def _names_within(names: list[str], budget: int) -> str:
    """Names joined with commas, as many as fit in `budget` characters, then how many more."""
    shown: list[str] = []
    for name in names:
        if len(", ".join([*shown, name])) > budget:
            if not shown:  # one name longer than the budget: its start
                shown.append(cut(name, budget))
            break
        shown.append(name)
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest else "")


_RECORD_BARS = "Record it first with *Record success bars* on the Phase 2 message."
_RECORD_EVALUATION = "Record one first with *Record evaluation* on the Phase 6 message."
_NEEDS = {
    "quality-bar": f"This item needs a quality metric and threshold. {_RECORD_BARS}",
    "slice-bars": f"This item needs at least one per-slice bar. {_RECORD_BARS}",
    "cost-latency-targets": f"This item needs a cost target and a p95 latency target. {_RECORD_BARS}",
    "acceptable-gap": f"This item needs the acceptable quality gap to the teacher. {_RECORD_BARS}",
    "evaluation": f"This item needs an evaluation against the committed bars. {_RECORD_EVALUATION}",
    "partial-rollout": "Roll out gradually first: record a partial stage with `/distill rollout 5` or "
    "`/distill rollout 25` (owners).",
}


def missing_evidence_text(missing: Missing) -> str:
    """The private answer to a tick the evidence does not support yet; slice names escaped, as
    many as fit in `SLICE_NAMES_BUDGET` characters."""
    names = _names_within([escape(name) for name in missing.slices], SLICE_NAMES_BUDGET)
    if missing.needs == "slice-scores":
        return f"The newest evaluation has no scores for {names}. {_RECORD_EVALUATION}"
    if missing.needs == "critical-slices-fail":
        return (
            f"Production-critical slices fail their bars ({names}). Fix the student and record a new "
            "evaluation, or an owner may waive this item with a reason."
        )
    return _NEEDS[missing.needs]
