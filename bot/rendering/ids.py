"""The ids the bot puts into Block Kit and reads back from Slack's interaction payloads."""

from __future__ import annotations

import re
from dataclasses import dataclass

ITEM_ACTION_PREFIX = "item:"
ITEM_ACTION_PATTERN = re.compile(r"^item:")
_ITEM_BLOCK = re.compile(r"^item:([0-9]{1,10}):([0-9]{1,3}):([a-z0-9-]{1,40}):([0-9]{1,10})$")
# Ids and versions are stored as 4-byte integers (PostgreSQL's INTEGER): a larger number in a
# payload is not one the bot wrote, and must not reach the database.
MAX_STORED_ID = 2**31 - 1
_ASCII_NUMBER = re.compile(r"[0-9]{1,10}")


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
    ref = ItemRef(int(project_id), int(phase_number), item_key, int(version))
    return ref if max(ref.project_id, ref.version) <= MAX_STORED_ID else None


def parse_stored_id(value: object) -> int | None:
    """A number the bot wrote into a button's value or a form's metadata (a project, nudge or
    phase number), or None for anything else: other digits ("²"), a bool, one too large to store."""
    if isinstance(value, str) and _ASCII_NUMBER.fullmatch(value):
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_STORED_ID:
        return None
    return value
