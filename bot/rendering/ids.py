"""The ids the bot puts into Block Kit and reads back from Slack's interaction payloads."""

from __future__ import annotations

import re
from dataclasses import dataclass

ITEM_ACTION_PREFIX = "item:"
ITEM_ACTION_PATTERN = re.compile(r"^item:")
_ITEM_BLOCK = re.compile(r"^item:(\d{1,12}):(\d{1,3}):([a-z0-9-]{1,40}):(\d{1,12})$")


@dataclass(frozen=True)
class ItemRef:
    """Which project, phase and item a checkbox belongs to, and the version it was drawn at."""

    project_id: int
    phase_number: int
    item_key: str
    version: int


def item_block_id(ref: ItemRef) -> str:
    # The version makes the id change on every redraw: clients otherwise keep a stale state.
    return f"item:{ref.project_id}:{ref.phase_number}:{ref.item_key}:{ref.version}"


def item_action_id(item_key: str) -> str:
    return f"{ITEM_ACTION_PREFIX}{item_key}"


def parse_item_block_id(block_id: object) -> ItemRef | None:
    """The ref inside a block id, or None for anything the bot did not draw."""
    if not isinstance(block_id, str):
        return None
    match = _ITEM_BLOCK.match(block_id)
    if match is None:
        return None
    project_id, phase_number, item_key, version = match.groups()
    return ItemRef(int(project_id), int(phase_number), item_key, int(version))
