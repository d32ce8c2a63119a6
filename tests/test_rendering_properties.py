"""Property: every message and modal the bot draws fits Slack, and no user text in it becomes a
mention, a channel ping or a link, for any state the forms and commands can store.

The state is generated the way users make it: text typed into the real forms (up to each
input's max_length, heavy with `&`, `<`, `>`, emoji and combining characters) and parsed by
the bot's own parsers; only what they accept is rendered. Each rendering is checked with the
fake Slack's Block Kit rules (bot/fake_slack/blockkit.py). `hypothesis.target` steers the
search toward the largest messages; run with `--hypothesis-show-statistics` to see the number
of cases and the largest message found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings, target
from hypothesis import strategies as st

from bot import modals
from bot.checklist import gate
from bot.checklist.evidence import BarsView, EvaluationView, Evidence, Missing, SliceBarView
from bot.checklist.template import MAX_ITEMS_PER_PHASE, MAX_PHASE_TEXT, Template, load_template, sent_length
from bot.fake_slack.blockkit import (
    MESSAGE_BLOCKS_TEXT_LIMIT,
    VIEW_MAX_BYTES,
    blocks_text_length,
    validate_message_blocks,
    validate_view,
    view_size_bytes,
)
from bot.nudges import rules
from bot.rendering import messages as render
from bot.rendering.nudges import NudgeView, nudge_message
from bot.workflow import MAX_NAME_LENGTH
from tests.mrkdwn_checks import mrkdwn_texts, planted_sequences, unescaped_ampersands

PERMALINK = "https://fake.slack.example/archives/C0PROJECT/p1700000000000100"
USERS = ("UALICE", "U0123456789ABCDEF")
WHEN = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
MESSAGE_TEXT_MAX = 40_000  # Slack truncates a message's `text` past this
ROLLOUT_STAGES = sorted(render.ROLLOUT_LABELS)

# --- templates: the bundled one, and one at every limit the loader allows, with evidence items --


def _heaviest_template() -> Template:
    budget = MAX_PHASE_TEXT // MAX_ITEMS_PER_PHASE
    title = ("A&B<C> " * 30)[:150]
    reason = "x" * (budget - sent_length(title))
    evidence = [
        ["quality-bar", "slice-bars", "cost-latency-targets", "acceptable-gap"],
        ["evaluation", "evaluation-slices", "critical-slices-pass"],
    ]
    phases = [
        {
            "key": f"phase-{p}",
            "title": ("T&<" * 40)[:100],
            "intro": "",
            "items": [
                {
                    "key": f"p{p}-item-{n}",
                    "title": title,
                    "reason": reason,
                    **({"evidence": evidence[p][n]} if n < len(evidence[p]) else {}),
                }
                for n in range(MAX_ITEMS_PER_PHASE)
            ],
        }
        for p in range(2)
    ]
    return Template.model_validate({"name": "heaviest", "title": "L&" * 50, "phases": phases})


TEMPLATES = [load_template(), _heaviest_template()]

# --- user text -----------------------------------------------------------------------------------

HOSTILE = [
    "&",
    "<",
    ">",
    "&amp;",
    "<!channel>",
    "<@U1>",
    "<https://x.example|y>",
    "👩‍👩‍👧‍👦",
    "🚀",
    "e\u0301",
    "\u0308",
]
CHARS = st.one_of(
    st.sampled_from(["&", "<", ">", "*", "_", "`", "~", ":", "!", "@", "#", " ", "\u200b", "\u0301", "😀"]),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
)


def typed(max_size: int, *, forbid: str = "", nonblank: bool = False) -> st.SearchStrategy[str]:
    """What a person can type into one input of `max_size` characters, ugly on purpose: a mix of
    markup, emoji and combining marks, or one escaped character repeated up to the limit."""
    # At most 24 pieces (a piece may be a 21-character token); `heavy` reaches the limit.
    pieces = st.lists(st.one_of(st.sampled_from(HOSTILE), CHARS), max_size=min(max_size, 24)).map("".join)
    heavy = st.builds(
        lambda char, count, tail: char * count + tail,
        st.sampled_from(["&", "<", ">"]),
        st.integers(0, max_size),
        pieces,
    )

    def fit(text: str) -> str:
        text = "".join(c for c in text if c not in forbid)[:max_size]
        return text if text.strip() or not nonblank else "&"

    return st.one_of(pieces, heavy).map(fit)


def at_most(text: str, limit: int) -> str:
    return text[:limit]


NUMBERS = st.one_of(
    st.sampled_from(["0", "0,92", "0.92", "1e308", "1.7976931348623157e308", "5e-324", "92", ".5", "0,5"]),
    st.floats(min_value=0, allow_nan=False, allow_infinity=False).map(repr),
)


@dataclass(frozen=True)
class TypedSlice:
    name: str
    metric: str
    threshold: str
    critical: bool


SLICE = st.builds(
    TypedSlice,
    name=typed(modals.NAME_LENGTH, forbid="|\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    metric=typed(modals.METRIC_LENGTH, forbid="|\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    threshold=NUMBERS,
    critical=st.booleans(),
)


def form(values: dict[str, str], meta: dict[str, Any] | None = None) -> modals.View:
    """A submitted modal's view as Slack sends it."""
    return {
        "private_metadata": json.dumps(meta or {}),
        "state": {
            "values": {key: {key: {"type": "plain_text_input", "value": v}} for key, v in values.items()}
        },
    }


@st.composite
def committed_bars(draw: st.DrawFn) -> BarsView | None:
    """Bars as the bars form accepts them (typed within its max_lengths, parsed by the bot)."""
    slices = draw(st.lists(SLICE, max_size=modals.MAX_SLICES, unique_by=lambda s: s.name.strip().lower()))
    text = "\n".join(f"{s.name}|{s.metric}|{s.threshold}{'|critical' if s.critical else ''}" for s in slices)
    values = {
        "quality_metric": at_most(draw(typed(60, forbid="\n")), 60),
        "quality_threshold": draw(NUMBERS),
        "slices": at_most(text, modals.SLICES_LENGTH),
        "cost_target": draw(st.one_of(st.just(""), NUMBERS)),
        "latency": draw(st.one_of(st.just(""), NUMBERS)),
        "gap": draw(st.one_of(st.just(""), NUMBERS)),
        "reason": draw(typed(modals.REASON_LENGTH)),
    }
    parsed, _ = modals.parse_bars(form(values, {"bars_id": 6, "amending": True}), amending=True, bars_id=6)
    if parsed is None:
        return None
    stored = tuple(replace(s, bar_id=n + 1) for n, s in enumerate(parsed.slices))
    return BarsView(
        parsed.quality_metric,
        parsed.quality_threshold,
        stored,
        parsed.cost_target,
        parsed.latency_p95_ms,
        parsed.acceptable_gap,
        USERS[1],
        WHEN,
        amendment_reason=parsed.amendment_reason,
        bars_id=7,
    )


@st.composite
def evaluations(draw: st.DrawFn, bars: BarsView) -> EvaluationView | None:
    """An evaluation typed into the form drawn from `bars` (some slices may go unscored when an
    older evaluation meets amended bars, so a random subset is kept)."""
    values = {"overall": f"{draw(NUMBERS)} / {draw(NUMBERS)}"}
    for slice_bar in bars.slices:
        values[modals.slice_block_id(slice_bar)] = f"{draw(NUMBERS)} / {draw(NUMBERS)}"
    values["latency"] = draw(st.one_of(st.just(""), NUMBERS))
    values["cost"] = draw(st.one_of(st.just(""), NUMBERS))
    parsed, _ = modals.parse_evaluation(form(values, {"bars_id": bars.bars_id}), bars)
    if parsed is None:
        return None
    kept = draw(st.sets(st.sampled_from(sorted(parsed.slice_scores)))) if parsed.slice_scores else set()
    return EvaluationView(
        evaluation_id=3,
        student_score=parsed.student_score,
        teacher_score=parsed.teacher_score,
        slice_scores={name: parsed.slice_scores[name] for name in kept},
        latency_p95_ms=parsed.latency_p95_ms,
        cost=parsed.cost,
        recorded_by=USERS[0],
        recorded_at=WHEN,
    )


@st.composite
def states(draw: st.DrawFn) -> tuple[Template, render.ProjectView]:
    template = draw(st.sampled_from(TEMPLATES))
    keys = [item.key for phase in template.phases for item in phase.items]
    # `/distill start <name>`: Slack escapes & < >, the bot unescapes, and allows 80 characters.
    name = draw(typed(MAX_NAME_LENGTH, nonblank=True)).strip()
    bars = draw(committed_bars())
    evaluation = draw(evaluations(bars)) if bars is not None else None
    ticked = draw(st.sets(st.sampled_from(keys)))
    waived = draw(st.sets(st.sampled_from(keys)))
    # A few typed reasons shared among the waivers keep generation quick; each is at its limit at times.
    reasons = draw(st.lists(typed(modals.REASON_LENGTH, nonblank=True), min_size=1, max_size=3))
    shipped = draw(st.booleans())
    current = len(template.phases) if shipped else draw(st.integers(1, len(template.phases)))
    # `/distill stop`'s form: a win (Phase 1 only) or a typed reason.
    stop = draw(
        st.one_of(
            st.none(),
            st.just(render.StopView(USERS[0], WHEN, True, None)),
            typed(modals.REASON_LENGTH, nonblank=True).map(
                lambda reason: render.StopView(USERS[1], WHEN, False, reason)
            ),
        )
    )
    rollouts = st.sampled_from(ROLLOUT_STAGES).map(lambda stage: render.RolloutView(stage, WHEN))
    rollout = draw(st.one_of(st.none(), rollouts))
    proof = Evidence(bars, evaluation, WHEN if bars else None, USERS[0] if bars else None)
    return template, render.ProjectView(
        project_id=draw(st.sampled_from([1, 999_999_999_999])),
        name=name,
        started_by=USERS[0],
        started_at=WHEN,
        current_phase=current,
        shipped=shipped,
        shipped_at=WHEN if shipped else None,
        version=draw(st.sampled_from([1, 999_999_999_999])),
        permalink=draw(st.sampled_from([None, PERMALINK])),
        cycle=draw(st.integers(1, 99)),
        closed=draw(st.booleans()),
        ticks={key: render.TickView(USERS[0], WHEN) for key in ticked},
        waivers={
            key: render.WaiverView(
                USERS[1], WHEN, reasons[n % len(reasons)], WHEN + timedelta(days=n % 2 * 3)
            )
            for n, key in enumerate(sorted(waived))
        },
        evidence=proof,
        counted_keys=frozenset(gate.counted(template, ticked, waived, proof)),
        stop=stop,
        rollout=rollout,
    )


# --- checks --------------------------------------------------------------------------------------


def safe(payload: Any) -> None:
    for text in mrkdwn_texts(payload):
        assert planted_sequences(text, users=USERS, links=[PERMALINK]) == [], text
        assert unescaped_ampersands(text) == [], text


def fits(message: render.Message) -> int:
    """Checks the message; returns its characters of block text."""
    assert validate_message_blocks(message.blocks) == []
    length = blocks_text_length(message.blocks)
    assert length <= MESSAGE_BLOCKS_TEXT_LIMIT
    assert 0 < len(message.text) <= MESSAGE_TEXT_MAX
    safe({"text": message.text, "blocks": message.blocks})
    return length


def fits_view(view: modals.View) -> None:
    assert validate_view(view) == []
    assert view_size_bytes(view) <= VIEW_MAX_BYTES
    safe(view)


def every_message(template: Template, view: render.ProjectView) -> list[render.Message]:
    drawn = [render.parent_message(template, view)]
    for number in range(1, len(template.phases) + 1):
        drawn.append(render.phase_message(template, view, number))
        drawn.append(render.phase_done_message(template, view, number))
    proof = view.evidence
    if proof.bars is not None:
        drawn.append(render.bars_message(view))
        if proof.evaluation is not None:
            drawn.append(render.evaluation_message(proof.bars, proof.evaluation))
    for kind, answers in rules.BUTTONS.items():
        for answer in (None, *answers):
            nudge = NudgeView(5, kind, WHEN, answer, USERS[1] if answer else None, WHEN if answer else None)
            drawn.append(nudge_message(template, view, nudge))
    offer = NudgeView(6, rules.REDISTILL_OFFER, WHEN, drift_reported_by=USERS[1])
    drawn.append(nudge_message(template, view, offer))
    return drawn


# Found by the test below: every item of the heaviest phase waived, until a date, reasons at
# their limit.
HEAVIEST_PHASE_WAIVED = render.ProjectView(
    project_id=999_999_999_999,
    name="&",
    started_by=USERS[0],
    started_at=WHEN,
    current_phase=1,
    shipped=False,
    version=999_999_999_999,
    waivers={
        item.key: render.WaiverView(USERS[1], WHEN, "&" * modals.REASON_LENGTH, WHEN)
        for item in TEMPLATES[1].phase(1).items
    },
    counted_keys=frozenset(),
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AMPERSANDS = "&" * 57


@SETTINGS
@given(states())
@example(  # the stall of issue 7: twenty slices named mostly of `&`, every text at its longest
    (
        TEMPLATES[1],
        render.ProjectView(
            project_id=999_999_999_999,
            name="&" * MAX_NAME_LENGTH,
            started_by=USERS[0],
            started_at=WHEN,
            current_phase=1,
            shipped=False,
            version=999_999_999_999,
            permalink=PERMALINK,
            evidence=Evidence(
                BarsView(
                    "<" * 60,
                    1.7976931348623157e308,
                    tuple(
                        SliceBarView(
                            AMPERSANDS + f"{n:03}", ">" * 40, 2.2250738585072014e-308, True, bar_id=n + 1
                        )
                        for n in range(modals.MAX_SLICES)
                    ),
                    1.7976931348623157e308,
                    1.7976931348623157e308,
                    1.7976931348623157e308,
                    USERS[1],
                    WHEN,
                    amendment_reason="&" * modals.REASON_LENGTH,
                    bars_id=7,
                ),
                EvaluationView(
                    3,
                    0.0,
                    1.7976931348623157e308,
                    {
                        AMPERSANDS + f"{n:03}": (5e-324, 1.7976931348623157e308)
                        for n in range(modals.MAX_SLICES)
                    },
                    1.7976931348623157e308,
                    1.7976931348623157e308,
                    USERS[0],
                    WHEN,
                ),
                WHEN,
                USERS[0],
            ),
        ),
    )
)
@example((TEMPLATES[1], HEAVIEST_PHASE_WAIVED))
# The same, stopped with a reason at its limit: the stop's line shares the phase message.
@example(
    (
        TEMPLATES[1],
        replace(
            HEAVIEST_PHASE_WAIVED, stop=render.StopView(USERS[1], WHEN, False, "&" * modals.REASON_LENGTH)
        ),
    )
)
def test_every_message_fits_slack_and_plants_nothing(state: tuple[Template, render.ProjectView]) -> None:
    template, view = state
    drawn = every_message(template, view)
    longest = max(fits(message) for message in drawn)
    # Steer the search toward the largest messages; --hypothesis-show-statistics shows the best.
    target(float(longest), label="largest message: characters of block text")
    target(float(max(len(message.blocks) for message in drawn)), label="largest message: blocks")
    status = render.status_text(template, view)
    assert len(status) <= MESSAGE_TEXT_MAX
    safe({"text": status})
    bars, evaluation = view.evidence.bars, view.evidence.evaluation
    if bars is not None:
        names = tuple(s.name for s in bars.slices)
        for missing in (Missing("slice-scores", names), Missing("critical-slices-fail", names)):
            text = render.missing_evidence_text(missing)
            assert len(text) <= MESSAGE_TEXT_MAX
            safe({"text": text})
    assert evaluation is None or bars is not None


@SETTINGS
@given(states())
def test_every_modal_fits_slack_and_the_amend_form_gives_back_what_is_stored(
    state: tuple[Template, render.ProjectView],
) -> None:
    template, view = state
    for number, phase in enumerate(template.phases, start=1):
        fits_view(modals.waive_modal(view.project_id, number, phase.title, list(phase.items)))
    bars = view.evidence.bars
    fits_view(modals.bars_modal(view.project_id, None, amending=False))
    if bars is None:
        return
    fits_view(modals.evaluation_modal(view.project_id, bars))
    amend = modals.bars_modal(view.project_id, bars, amending=True)
    fits_view(amend)
    # Saved unchanged (with a reason), the pre-filled form reads back as the bars it shows.
    prefilled = {
        b["block_id"]: b["element"].get("initial_value", "") for b in amend["blocks"] if b["type"] == "input"
    }
    resubmitted = form({**prefilled, "reason": "unchanged"}, modals.metadata(amend))
    parsed, errors = modals.parse_bars(resubmitted, amending=True, bars_id=bars.bars_id)
    assert errors == {} and parsed is not None
    assert parsed.quality_threshold == bars.quality_threshold
    assert [(s.name, s.metric, s.threshold, s.critical) for s in parsed.slices] == [
        (s.name.strip(), s.metric.strip(), s.threshold, s.critical) for s in bars.slices
    ]
    assert (parsed.cost_target, parsed.latency_p95_ms, parsed.acceptable_gap) == (
        bars.cost_target,
        bars.latency_p95_ms,
        bars.acceptable_gap,
    )
