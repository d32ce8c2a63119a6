"""The modals: built from stored state, and their submissions parsed into typed input.

Pure functions. Parsing returns field errors keyed by block id, the shape Slack shows
inside the modal (`response_action: errors`), so bad input is answered where it was typed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.checklist.evidence import BarsView, SliceBarView
from bot.checklist.template import Item

View = dict[str, Any]
Errors = dict[str, str]

WAIVE, BARS, EVALUATION = "waive", "bars", "evaluation"
MAX_SLICES = 20
NAME_LENGTH = 60
REASON_LENGTH = 300


@dataclass(frozen=True)
class BarsInput:
    quality_metric: str
    quality_threshold: float
    slices: tuple[SliceBarView, ...]
    cost_target: float | None
    latency_p95_ms: float | None
    acceptable_gap: float | None
    amendment_reason: str | None


@dataclass(frozen=True)
class EvaluationInput:
    student_score: float
    teacher_score: float
    slice_scores: dict[str, tuple[float, float]]
    latency_p95_ms: float | None
    cost: float | None


@dataclass(frozen=True)
class WaiverInput:
    item_key: str
    reason: str
    expires_on: date | None


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# --- building ----------------------------------------------------------------------------------


def _modal(
    callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]], meta: dict[str, Any]
) -> View:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(meta),
        "blocks": blocks,
    }


def _text_input(
    block_id: str,
    label: str,
    *,
    initial: str | None = None,
    hint: str | None = None,
    optional: bool = False,
    multiline: bool = False,
    max_length: int = 60,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": block_id, "max_length": max_length}
    if multiline:
        element["multiline"] = True
    if initial:
        element["initial_value"] = initial
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _intro(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def waive_modal(project_id: int, phase_number: int, phase_title: str, items: list[Item]) -> View:
    options = [
        {"text": {"type": "plain_text", "text": item.short_title}, "value": item.key} for item in items
    ]
    blocks = [
        _intro(
            f"Waive an item of *Phase {phase_number}: {phase_title}* instead of ticking it. "
            "A waived item counts for the gate; everyone sees who waived it, why, and until when."
        ),
        {
            "type": "input",
            "block_id": "item",
            "label": {"type": "plain_text", "text": "Item"},
            "element": {"type": "static_select", "action_id": "item", "options": options},
        },
        _text_input("reason", "Why it may be skipped", multiline=True, max_length=REASON_LENGTH),
        {
            "type": "input",
            "block_id": "expires",
            "optional": True,
            "label": {"type": "plain_text", "text": "Waiver ends after"},
            "hint": {"type": "plain_text", "text": "Leave empty for no end. The item reopens the day after."},
            "element": {"type": "datepicker", "action_id": "expires"},
        },
    ]
    return _modal(WAIVE, "Waive an item", "Waive", blocks, {"project_id": project_id, "phase": phase_number})


def bars_modal(project_id: int, current: BarsView | None, *, amending: bool) -> View:
    slices = "\n".join(
        f"{s.name} | {s.metric} | {s.threshold:g}{' | critical' if s.critical else ''}"
        for s in (current.slices if current else ())
    )
    blocks = [
        _intro(
            "Commit to the bar before you have a model. "
            "Scores are higher-is-better; cost and latency are maximums."
            + (
                "\n*Phase 2 has passed:* changing the bars is an amendment, recorded with your reason."
                if amending
                else ""
            )
        ),
        _text_input(
            "quality_metric",
            "Quality metric",
            initial=current.quality_metric if current else None,
            hint="For example: accuracy, exact match, pass rate",
        ),
        _text_input(
            "quality_threshold",
            "Overall threshold",
            initial=_num(current.quality_threshold if current else None),
            hint="The student's score must reach this, e.g. 0.92",
            max_length=20,
        ),
        _text_input(
            "slices",
            "Per-slice bars",
            initial=slices or None,
            optional=True,
            multiline=True,
            max_length=2500,
            hint="One per line: slice | metric | threshold, then | critical for production-critical slices",
        ),
        _text_input(
            "cost_target",
            "Cost target per 1,000 requests",
            optional=True,
            max_length=20,
            initial=_num(current.cost_target if current else None),
        ),
        _text_input(
            "latency",
            "p95 latency target (ms)",
            optional=True,
            max_length=20,
            initial=_num(current.latency_p95_ms if current else None),
        ),
        _text_input(
            "gap",
            "Acceptable gap to the teacher",
            optional=True,
            max_length=20,
            initial=_num(current.acceptable_gap if current else None),
            hint="Points of the quality metric the student may trail the teacher, e.g. 0.02",
        ),
    ]
    if amending:
        blocks.append(
            _text_input("reason", "Why amend the committed bars?", multiline=True, max_length=REASON_LENGTH)
        )
    title = "Amend success bars" if amending else "Record success bars"
    return _modal(BARS, title, "Save", blocks, {"project_id": project_id})


def evaluation_modal(project_id: int, bars: BarsView) -> View:
    blocks = [
        _intro(
            f"Scores on the held-out set, as *student / teacher*, e.g. `0.91 / 0.94`. "
            f"The overall score is {bars.quality_metric}."
        ),
        _text_input("overall", "Overall: student / teacher", max_length=40),
    ]
    for index, slice_bar in enumerate(bars.slices):
        blocks.append(
            _text_input(
                f"slice-{index}",
                f"{slice_bar.name} ({slice_bar.metric}): student / teacher"[:2000],
                max_length=40,
            )
        )
    blocks += [
        _text_input("latency", "Measured p95 latency (ms)", optional=True, max_length=20),
        _text_input("cost", "Measured cost per 1,000 requests", optional=True, max_length=20),
    ]
    return _modal(EVALUATION, "Record evaluation", "Record", blocks, {"project_id": project_id})


# --- parsing -----------------------------------------------------------------------------------


def _value(view: View, block_id: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    element = state.get(block_id) or {}  # each input's action_id is its block_id
    if not isinstance(element, dict):
        return ""
    if element.get("type") == "static_select":
        return str((element.get("selected_option") or {}).get("value") or "")
    if element.get("type") == "datepicker":
        return str(element.get("selected_date") or "")
    return str(element.get("value") or "").strip()


def _number(text: str, block_id: str, errors: Errors, *, required: bool) -> float | None:
    if not text:
        if required:
            errors[block_id] = "Enter a number."
        return None
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        errors[block_id] = f"“{text[:20]}” is not a number."
        return None
    if not math.isfinite(number) or number < 0:
        errors[block_id] = "Enter a number of 0 or more."
        return None
    return number


def parse_bars(view: View, *, amending: bool) -> tuple[BarsInput | None, Errors]:
    errors: Errors = {}
    metric = _value(view, "quality_metric")
    if not metric:
        errors["quality_metric"] = "Name the metric, e.g. accuracy."
    threshold = _number(_value(view, "quality_threshold"), "quality_threshold", errors, required=True)
    slices = _parse_slices(_value(view, "slices"), errors)
    cost = _number(_value(view, "cost_target"), "cost_target", errors, required=False)
    latency = _number(_value(view, "latency"), "latency", errors, required=False)
    gap = _number(_value(view, "gap"), "gap", errors, required=False)
    reason = _value(view, "reason") if amending else None
    if amending and not reason:
        errors["reason"] = "Say why the committed bars change."
    if errors or threshold is None:
        return None, errors
    return BarsInput(metric[:NAME_LENGTH], threshold, slices, cost, latency, gap, reason), errors


def _parse_slices(text: str, errors: Errors) -> tuple[SliceBarView, ...]:
    slices: list[SliceBarView] = []
    for number, line in enumerate((line for line in text.splitlines() if line.strip()), start=1):
        parts = [part.strip() for part in line.split("|")]
        critical = len(parts) == 4 and parts[3].lower() == "critical"
        if len(parts) not in (3, 4) or (len(parts) == 4 and not critical) or not parts[0] or not parts[1]:
            errors["slices"] = f"Line {number}: write slice | metric | threshold, and | critical if it is."
            break
        try:
            threshold = float(parts[2])
        except ValueError:
            errors["slices"] = f"Line {number}: “{parts[2][:20]}” is not a number."
            break
        slices.append(SliceBarView(parts[0][:NAME_LENGTH], parts[1][:NAME_LENGTH], threshold, critical))
    names = [s.name.lower() for s in slices]
    if "slices" not in errors and len(set(names)) != len(names):
        errors["slices"] = "Each slice needs its own name."
    if len(slices) > MAX_SLICES:
        errors["slices"] = f"At most {MAX_SLICES} slices."
    return tuple(slices)


def _pair(text: str, block_id: str, errors: Errors) -> tuple[float, float] | None:
    parts = [part.strip() for part in text.replace(",", "/").split("/")]
    if len(parts) != 2:
        errors[block_id] = "Write student / teacher, e.g. 0.91 / 0.94."
        return None
    student = _number(parts[0], block_id, errors, required=True)
    teacher = _number(parts[1], block_id, errors, required=True)
    return (student, teacher) if student is not None and teacher is not None else None


def parse_evaluation(view: View, bars: BarsView) -> tuple[EvaluationInput | None, Errors]:
    errors: Errors = {}
    overall = _pair(_value(view, "overall"), "overall", errors)
    slice_scores = {}
    for index, slice_bar in enumerate(bars.slices):
        pair = _pair(_value(view, f"slice-{index}"), f"slice-{index}", errors)
        if pair:
            slice_scores[slice_bar.name] = pair
    latency = _number(_value(view, "latency"), "latency", errors, required=False)
    cost = _number(_value(view, "cost"), "cost", errors, required=False)
    if errors or overall is None:
        return None, errors
    return EvaluationInput(overall[0], overall[1], slice_scores, latency, cost), errors


def parse_waiver(view: View, open_keys: set[str], today: date) -> tuple[WaiverInput | None, Errors]:
    errors: Errors = {}
    item_key = _value(view, "item")
    if item_key not in open_keys:
        errors["item"] = "Pick an item that is still open in this phase."
    reason = _value(view, "reason")
    if not reason:
        errors["reason"] = "Say why this item may be skipped."
    expires_on = None
    if text := _value(view, "expires"):
        try:
            expires_on = date.fromisoformat(text)
        except ValueError:
            errors["expires"] = "Pick a date."
        else:
            if expires_on < today:
                errors["expires"] = "Pick today or a later day."
    if errors:
        return None, errors
    return WaiverInput(item_key, reason[:REASON_LENGTH], expires_on), errors


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """A waiver that ends after `day` stops counting at the next local midnight."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"
