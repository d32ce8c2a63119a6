"""The modals: built from stored state, and their submissions parsed into typed input.

Pure functions. Parsing returns field errors keyed by block id, the shape Slack shows
inside the modal (`response_action: errors`), so bad input is answered where it was typed.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.checklist.evidence import BarsView, SliceBarView
from bot.checklist.template import Item
from bot.core.text import as_typed
from bot.rendering.mrkdwn import escape

View = dict[str, Any]
Errors = dict[str, str]

WAIVE, BARS, EVALUATION, STOP = "waive", "bars", "evaluation", "stop"
MAX_SLICES = 20
NAME_LENGTH = 60
METRIC_LENGTH = 40
REASON_LENGTH = 300
# Long enough for any number written back into the amend form (`form_number`).
NUMBER_LENGTH = 30
PAIR_LENGTH = 2 * NUMBER_LENGTH + 3
# Twenty slices at their longest, written back as `name | metric | threshold | critical`, fit.
SLICES_LENGTH = 3000
BARS_CHANGED = "The bars changed since you opened this form; open it again."


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


def slice_block_id(slice_bar: SliceBarView) -> str:
    """An evaluation input is keyed by the stored slice bar it scores, never by its position."""
    return f"slice:{slice_bar.bar_id}"


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
            f"Waive an item of *Phase {phase_number}: {escape(phase_title)}* instead of ticking it. "
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
        f"{s.name} | {s.metric} | {form_number(s.threshold)}{' | critical' if s.critical else ''}"
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
            max_length=NUMBER_LENGTH,
        ),
        _text_input(
            "slices",
            "Per-slice bars",
            initial=slices or None,
            optional=True,
            multiline=True,
            max_length=SLICES_LENGTH,
            hint="One per line: slice | metric | threshold, then | critical for production-critical "
            f"slices. At most {MAX_SLICES} slices; names up to {NAME_LENGTH} characters, metrics up to "
            f"{METRIC_LENGTH}.",
        ),
        _text_input(
            "cost_target",
            "Cost target per 1,000 requests",
            optional=True,
            max_length=NUMBER_LENGTH,
            initial=_num(current.cost_target if current else None),
        ),
        _text_input(
            "latency",
            "p95 latency target (ms)",
            optional=True,
            max_length=NUMBER_LENGTH,
            initial=_num(current.latency_p95_ms if current else None),
        ),
        _text_input(
            "gap",
            "Acceptable gap to the teacher",
            optional=True,
            max_length=NUMBER_LENGTH,
            initial=_num(current.acceptable_gap if current else None),
            hint="Points of the quality metric the student may trail the teacher, e.g. 0.02",
        ),
    ]
    if amending:
        blocks.append(
            _text_input("reason", "Why amend the committed bars?", multiline=True, max_length=REASON_LENGTH)
        )
    title = "Amend success bars" if amending else "Record success bars"
    # What it was drawn from: a submission after the bars changed, or after Phase 2 passed, is refused.
    meta = {"project_id": project_id, "bars_id": current.bars_id if current else 0, "amending": amending}
    return _modal(BARS, title, "Save", blocks, meta)


def evaluation_modal(project_id: int, bars: BarsView) -> View:
    """Drawn from one recording of the bars (`bars_id`): a submission after they changed is refused."""
    blocks = [
        _intro(
            f"Scores on the held-out set, as *student / teacher*, e.g. `0.91 / 0.94`. "
            f"The overall score is {escape(bars.quality_metric)}."
        ),
        _text_input("overall", "Overall: student / teacher", max_length=PAIR_LENGTH),
    ]
    for slice_bar in bars.slices:
        blocks.append(
            _text_input(
                slice_block_id(slice_bar),
                f"{slice_bar.name} ({slice_bar.metric}): student / teacher"[:2000],
                max_length=PAIR_LENGTH,
            )
        )
    blocks += [
        _text_input("latency", "Measured p95 latency (ms)", optional=True, max_length=NUMBER_LENGTH),
        _text_input("cost", "Measured cost per 1,000 requests", optional=True, max_length=NUMBER_LENGTH),
    ]
    meta = {"project_id": project_id, "bars_id": bars.bars_id}
    return _modal(EVALUATION, "Record evaluation", "Record", blocks, meta)


# --- parsing -----------------------------------------------------------------------------------


def _value(view: View, block_id: str) -> str:
    state = ((view.get("state") or {}).get("values") or {}).get(block_id) or {}
    element = state.get(block_id) or {}  # each input's action_id is its block_id
    if not isinstance(element, dict):
        return ""
    if element.get("type") in ("static_select", "radio_buttons"):
        return as_typed((element.get("selected_option") or {}).get("value"))
    if element.get("type") == "datepicker":
        return as_typed(element.get("selected_date"))
    return as_typed(element.get("value")).strip()


_DECIMAL = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_DECIMAL_COMMA = re.compile(r"^(\d*),(\d+)$")


def read_number(text: str) -> float | str:
    """A number of 0 or more, read the way people write it, or why not (for the form).

    `0,92` is 0.92 (a decimal comma); `1,000` could be a thousand or one, so it is refused
    rather than guessed; NaN, infinities and negatives are refused.
    """
    written = text.strip()
    if comma := _DECIMAL_COMMA.match(written):
        whole, fraction = comma.groups()
        if len(fraction) == 3 and whole not in {"", "0"}:
            return (
                f"“{written[:20]}” could mean {whole}{fraction} or {whole}.{fraction}: "
                "write it without a comma."
            )
        written = f"{whole or '0'}.{fraction}"
    elif "," in written:
        return f"“{written[:20]}”: use a dot for decimals and no thousands separators, e.g. 1250.5."
    if written.startswith("-") and _DECIMAL.match(written[1:]):
        return "Enter a number of 0 or more."
    if not _DECIMAL.match(written):
        return f"“{written[:20]}” is not a number."
    number = float(written)
    if not math.isfinite(number):
        return f"“{written[:20]}” is too large."
    return number


def _number(text: str, block_id: str, errors: Errors, *, required: bool) -> float | None:
    if not text:
        if required:
            errors[block_id] = "Enter a number."
        return None
    number = read_number(text)
    if isinstance(number, str):
        errors[block_id] = number
        return None
    return number


def parse_bars(view: View, *, amending: bool, bars_id: int) -> tuple[BarsInput | None, Errors]:
    """A submission of the bars form; `bars_id` is the recording in force now (0: none yet)."""
    drawn_from = metadata(view)
    if drawn_from.get("bars_id") != bars_id or drawn_from.get("amending") != amending:
        return None, {"quality_metric": BARS_CHANGED}
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
        if len(parts[0]) > NAME_LENGTH or len(parts[1]) > METRIC_LENGTH:
            errors["slices"] = (
                f"Line {number}: a slice name has at most {NAME_LENGTH} characters, "
                f"a metric at most {METRIC_LENGTH}."
            )
            break
        threshold = read_number(parts[2])
        if isinstance(threshold, str):
            errors["slices"] = f"Line {number}: {threshold}"
            break
        slices.append(SliceBarView(parts[0], parts[1], threshold, critical))
    names = [s.name.lower() for s in slices]
    if "slices" not in errors and len(set(names)) != len(names):
        errors["slices"] = "Each slice needs its own name."
    if len(slices) > MAX_SLICES:
        errors["slices"] = f"At most {MAX_SLICES} slices."
    return tuple(slices)


# Between student and teacher: a slash, or a semicolon, a comma and a space, or spaces
# (a comma alone may be a decimal comma: `0,91 / 0,94`).
_PAIR_SEPARATOR = re.compile(r"\s*/\s*|\s*;\s*|,\s+|\s+")


def _pair(text: str, block_id: str, errors: Errors) -> tuple[float, float] | None:
    parts = [part for part in _PAIR_SEPARATOR.split(text.strip()) if part]
    if len(parts) != 2:
        errors[block_id] = "Write student / teacher, e.g. 0.91 / 0.94."
        return None
    student = _number(parts[0], block_id, errors, required=True)
    teacher = _number(parts[1], block_id, errors, required=True)
    return (student, teacher) if student is not None and teacher is not None else None


def parse_evaluation(view: View, bars: BarsView) -> tuple[EvaluationInput | None, Errors]:
    """A submission of the form drawn from `bars`; the caller checks it was (`bars_id`)."""
    errors: Errors = {}
    if metadata(view).get("bars_id") != bars.bars_id:
        return None, {"overall": BARS_CHANGED}
    overall = _pair(_value(view, "overall"), "overall", errors)
    slice_scores = {}
    for slice_bar in bars.slices:
        block_id = slice_block_id(slice_bar)
        pair = _pair(_value(view, block_id), block_id, errors)
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


def form_number(value: float) -> str:
    """A stored number as typed back into a form: the shortest text that reads back the same
    (`0.123456789`, not `0.123457`), so saving the amend form unchanged changes nothing."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def _num(value: float | None) -> str | None:
    return None if value is None else form_number(value)


# --- stopping a project ------------------------------------------------------------------------

STOP_WIN, STOP_OTHER = "win", "other"
STOP_WIN_LABEL = "A cheaper option cleared our targets"


@dataclass(frozen=True)
class StopInput:
    win: bool
    reason: str | None


def stop_modal(project_id: int, phase_number: int) -> View:
    """The outcome of a stop. In Phase 1 stopping can be the checklist's own win."""
    blocks: list[dict[str, Any]] = [
        _intro(
            "Stopping ends this project: no more ticks or nudges, the record stays, and "
            "`/distill start` may begin a new project in this channel."
        )
    ]
    if phase_number == 1:
        options = [
            {
                "text": {"type": "plain_text", "text": STOP_WIN_LABEL},
                "description": {"type": "plain_text", "text": "Recorded and shown as a win, not a failure"},
                "value": STOP_WIN,
            },
            {"text": {"type": "plain_text", "text": "Another reason (say which below)"}, "value": STOP_OTHER},
        ]
        blocks.append(
            {
                "type": "input",
                "block_id": "outcome",
                "label": {"type": "plain_text", "text": "Outcome"},
                "element": {"type": "radio_buttons", "action_id": "outcome", "options": options},
            }
        )
    blocks.append(
        _text_input(
            "reason",
            "Why stop?",
            multiline=True,
            max_length=REASON_LENGTH,
            optional=phase_number == 1,
            hint="Optional when a cheaper option cleared your targets." if phase_number == 1 else None,
        )
    )
    return _modal(
        STOP, "Stop the project", "Stop project", blocks, {"project_id": project_id, "phase": phase_number}
    )


def parse_stop(view: View, *, in_phase_one: bool) -> tuple[StopInput | None, Errors]:
    errors: Errors = {}
    win = _value(view, "outcome") == STOP_WIN
    if win and not in_phase_one:
        errors["outcome"] = "The project has left Phase 1 since this form opened: give a reason instead."
    reason = _value(view, "reason")[:REASON_LENGTH] or None
    if not win and not reason:
        errors["reason"] = "Say why the project stops."
    if errors:
        return None, errors
    return StopInput(win, reason), errors
