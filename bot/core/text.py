"""Text as a person typed it, made storable."""

from __future__ import annotations


def as_typed(raw: object) -> str:
    """`raw` as text, without NUL characters: PostgreSQL's text cannot hold them (SQLite's can,
    so the same project would behave differently on each), and no Slack client sends them."""
    return str(raw or "").replace("\x00", "")
