"""Every message the bot can draw fits Slack's Block Kit limits, checked by the fake's validator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.checklist.template import MAX_ITEMS_PER_PHASE, MAX_PHASE_TEXT, Template, load_template, sent_length
from bot.fake_slack.blockkit import MESSAGE_BLOCKS_TEXT_LIMIT, blocks_text_length, validate_message_blocks
from bot.rendering import messages as render
from bot.rendering.ids import ItemRef, item_block_id, parse_item_block_id

WHEN = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
LONGEST_NAME = "R&D <eval> " * 7 + "x" * 3  # 80 characters, most of them escaped


def _fits(message: render.Message) -> None:
    assert validate_message_blocks(message.blocks) == []
    assert blocks_text_length(message.blocks) <= MESSAGE_BLOCKS_TEXT_LIMIT
    assert message.text


def _largest_template() -> Template:
    """A checklist at every limit the loader allows, its text heavy with characters Slack escapes."""
    budget = MAX_PHASE_TEXT // MAX_ITEMS_PER_PHASE
    title = ("A&B " * 40)[:150]
    reason = "x" * (budget - sent_length(title))
    phases = [
        {
            "key": f"phase-{p}",
            "title": "T" * 100,
            "items": [
                {"key": f"p{p}-item-{n}", "title": title, "reason": reason}
                for n in range(MAX_ITEMS_PER_PHASE)
            ],
        }
        for p in range(2)
    ]
    return Template.model_validate({"name": "largest", "title": "L" * 100, "phases": phases})


def _view(
    template: Template, *, ticked: bool, current_phase: int, shipped: bool = False
) -> render.ProjectView:
    keys = [item.key for phase in template.phases for item in phase.items] if ticked else []
    return render.ProjectView(
        project_id=999_999_999_999,
        name=LONGEST_NAME,
        started_by="U0123456789ABCDEF",
        started_at=WHEN,
        current_phase=current_phase,
        shipped=shipped,
        shipped_at=WHEN if shipped else None,
        version=999_999_999_999,
        permalink="https://example.slack.com/archives/C0/p1",
        ticks={key: render.TickView("U0123456789ABCDEF", WHEN) for key in keys},
    )


@pytest.mark.parametrize("template", [load_template(), _largest_template()], ids=["default", "largest"])
def test_every_message_fits_in_every_state(template: Template) -> None:
    last = len(template.phases)
    for ticked in (False, True):
        for phase_number in range(1, last + 1):
            open_view = _view(template, ticked=ticked, current_phase=phase_number)
            _fits(render.phase_message(template, open_view, phase_number))
            _fits(render.parent_message(template, open_view))
            _fits(render.phase_done_message(template, open_view, phase_number))
            assert len(render.status_text(template, open_view)) < 40_000
            passed_view = _view(template, ticked=ticked, current_phase=last, shipped=True)
            _fits(render.phase_message(template, passed_view, phase_number))
            _fits(render.parent_message(template, passed_view))


def test_open_phase_shows_each_item_with_its_reason_and_who_ticked_it() -> None:
    template = load_template()
    view = render.ProjectView(
        project_id=7,
        name="Router",
        started_by="UALICE",
        started_at=WHEN,
        current_phase=1,
        shipped=False,
        version=3,
        ticks={"narrow-task": render.TickView("UBOB", WHEN)},
    )
    message = render.phase_message(template, view, 1)
    sections = [block for block in message.blocks if block["type"] == "section"]
    assert len(sections) == len(template.phase(1).items)
    first, second = sections[0], sections[1]
    assert "<@UBOB>" in first["text"]["text"] and first["accessory"]["initial_options"]
    assert "initial_options" not in second["accessory"]
    assert parse_item_block_id(first["block_id"]) == ItemRef(7, 1, "narrow-task", 3)
    assert "1/6 ticked" in message.text


def test_block_ids_round_trip_and_reject_what_the_bot_did_not_draw() -> None:
    ref = ItemRef(12, 3, "edge-cases", 40)
    assert parse_item_block_id(item_block_id(ref)) == ref
    for foreign in (None, 5, "", "item:1:1:Bad Key:1", "item:x:1:a:1", "item:1:1:a", "other:1:1:a:1"):
        assert parse_item_block_id(foreign) is None


def test_user_text_is_escaped_for_mrkdwn() -> None:
    assert render.escape("R&D <@UHERE> <!channel>") == "R&amp;D &lt;@UHERE&gt; &lt;!channel&gt;"
    view = _view(load_template(), ticked=False, current_phase=1)
    parent = render.parent_message(load_template(), view)
    assert "<eval>" not in parent.text and "&lt;eval&gt;" in parent.text
    assert parent.blocks[0]["text"]["text"] == f"Distillation: {LONGEST_NAME}"  # plain_text is not mrkdwn
