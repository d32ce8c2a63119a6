"""The checklist as data, and the gate's rules, without Slack or a database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.checklist import gate
from bot.checklist.template import TemplateError, load_template, parse_template

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_6dee83b7697d896f.txt"
TEMPLATE = load_template()


def test_default_checklist_has_the_seed_pages_seven_phases_and_32_items() -> None:
    assert [phase.key for phase in TEMPLATE.phases] == [
        "scoping",
        "success",
        "data",
        "teacher-outputs",
        "training",
        "evaluation",
        "rollout",
    ]
    assert TEMPLATE.item_count == 32
    assert [len(phase.items) for phase in TEMPLATE.phases] == [6, 4, 5, 4, 4, 4, 5]


@pytest.mark.skipif(not SEED.exists(), reason="the seed page is kept in ../shared")
def test_every_item_and_reason_is_word_for_word_from_the_seed_page() -> None:
    seed = SEED.read_text(encoding="utf-8")
    pairs = re.findall(r"\[ \] (.+?\.) (.+)", seed)
    assert len(pairs) == 32
    ours = [(item.title, item.reason) for phase in TEMPLATE.phases for item in phase.items]
    assert ours == [(title.strip(), reason.strip()) for title, reason in pairs]


def _default_data() -> dict:
    return yaml.safe_load(Path("bot/checklist/default.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d["phases"][1]["items"].append(dict(d["phases"][0]["items"][0])), "repeated: narrow-task"),
        (lambda d: d["phases"].append(dict(d["phases"][0])), "phase keys must be unique"),
        (lambda d: d["phases"][0]["items"][0].update(key="Not A Key"), "phases.0.items.0.key"),
        (lambda d: d["phases"][0]["items"][0].update(title="x" * 151), "at most 150 characters"),
        (lambda d: d["phases"][0]["items"][0].update(reason="x" * 401), "at most 400 characters"),
        (lambda d: d["phases"][0].update(title="x" * 101), "at most 100 characters"),
        (lambda d: d["phases"][0].update(items=[]), "at least 1 item"),
        (lambda d: d["phases"][0]["items"][0].pop("reason"), "Field required"),
        (lambda d: d["phases"][0]["items"][0].update(colour="red"), "Extra inputs are not permitted"),
        (
            lambda d: d["phases"][0].update(
                items=[{"key": f"i{n}", "title": "t" * 150, "reason": "r" * 400} for n in range(20)]
            ),
            "characters of text",
        ),
    ],
)
def test_a_broken_checklist_is_refused_with_the_reason(change, complaint: str) -> None:  # type: ignore[no-untyped-def]
    data = _default_data()
    change(data)
    with pytest.raises(TemplateError) as raised:
        parse_template(yaml.safe_dump(data), source="team.yml")
    assert complaint in str(raised.value)
    assert str(raised.value).startswith("team.yml: ")


def test_a_team_can_load_its_own_checklist_file(tmp_path: Path) -> None:
    data = _default_data()
    data["phases"] = data["phases"][:2]
    path = tmp_path / "ours.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_template(path).item_count == 10
    with pytest.raises(TemplateError, match="cannot read"):
        load_template(tmp_path / "missing.yml")
    path.write_text("phases: [", encoding="utf-8")
    with pytest.raises(TemplateError, match="not valid YAML"):
        load_template(path)


OPEN = gate.Standing(current_phase=2, shipped=False)


def _decide(**overrides: object) -> gate.Change | gate.Refusal:
    arguments: dict = {
        "phase_number": 2,
        "item_key": "quality-bar",
        "want_ticked": True,
        "existing": None,
        "user_id": "UALICE",
        "seen_version": 10,
    }
    arguments.update(overrides)
    return gate.decide_toggle(TEMPLATE, OPEN, **arguments)


def test_ticks_and_unticks_in_the_open_phase() -> None:
    assert _decide() is gate.Change.TICK
    assert _decide(existing=gate.TickState("UBOB", 5)) is gate.Change.NONE
    assert _decide(want_ticked=False) is gate.Change.NONE
    assert _decide(want_ticked=False, existing=gate.TickState("UBOB", 10)) is gate.Change.UNTICK


def test_a_stale_client_never_unticks_a_tick_it_did_not_show() -> None:
    refused = _decide(want_ticked=False, existing=gate.TickState("UBOB", 11))
    assert isinstance(refused, gate.Refusal) and refused.redraw and "<@UBOB>" in refused.reason
    # ... but users may always take back their own tick, even before their client redraws.
    assert _decide(want_ticked=False, existing=gate.TickState("UALICE", 11)) is gate.Change.UNTICK


def test_passed_locked_and_unknown_phases_refuse() -> None:
    passed = _decide(phase_number=1, item_key="narrow-task")
    locked = _decide(phase_number=3, item_key="edge-cases")
    assert isinstance(passed, gate.Refusal) and "read-only" in passed.reason
    assert isinstance(locked, gate.Refusal) and "locked" in locked.reason
    assert isinstance(_decide(item_key="edge-cases"), gate.Refusal)  # an item of another phase
    assert isinstance(_decide(phase_number=99), gate.Refusal)
    shipped = gate.decide_toggle(
        TEMPLATE,
        gate.Standing(7, shipped=True),
        phase_number=7,
        item_key="shadow-mode",
        want_ticked=False,
        existing=gate.TickState("UALICE", 1),
        user_id="UALICE",
        seen_version=1,
    )
    assert isinstance(shipped, gate.Refusal)


def test_the_gate_opens_only_when_every_item_of_the_phase_is_ticked() -> None:
    phase_one = {item.key for item in TEMPLATE.phase(1).items}
    start = gate.Standing(1, shipped=False)
    assert gate.next_standing(TEMPLATE, start, phase_one - {"payback-period"}) == start
    assert gate.next_standing(TEMPLATE, start, phase_one) == gate.Standing(2, shipped=False)
    everything = {item.key for phase in TEMPLATE.phases for item in phase.items}
    assert gate.next_standing(TEMPLATE, gate.Standing(7, False), everything) == gate.Standing(7, shipped=True)
    assert gate.open_items(TEMPLATE, 1, {"narrow-task"})[0].key == "volume-justifies"
