"""User text meeting mrkdwn, and text that must fit Slack's limits as sent. Pure.

`escape` is the one way user text (names, metrics, reasons) enters mrkdwn: Slack gives
meaning to `&`, `<` and `>` only, and `<...>` is how mentions, channel pings and links are
written. Lengths are counted after escaping, because that is what Slack counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

# Slack's limits on the text the bot sends (docs.slack.dev; /work/shared/SLACK_FACTS.md).
SECTION_TEXT_MAX = 3000
CONTEXT_TEXT_MAX = 3000
# Slack refuses a message whose blocks hold more than about 13,200 characters of text
# (msg_blocks_too_long, observed); the renderers keep well below it.
MESSAGE_TEXT_BUDGET = 12_000


def escape(text: str) -> str:
    """Escape the three characters mrkdwn gives meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(mrkdwn: str, limit: int) -> str:
    """Text already in mrkdwn, cut to at most `limit` characters with an ellipsis, never inside
    an escape (`&amp;`) or a control sequence (`<@U1>`), which Slack would show broken."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    kept = mrkdwn[: limit - 1]
    for opener, closer in (("&", ";"), ("<", ">")):
        start = kept.rfind(opener)
        if start != -1 and closer not in kept[start:]:
            kept = kept[:start]
    return kept + "…"


def clip(text: str, limit: int) -> str:
    """User `text` escaped for mrkdwn, cut to `limit` characters as sent."""
    return cut(escape(text), limit)


def pack(
    lines: Sequence[str], *, budget: int, more: Callable[[int], str], chunk_max: int = SECTION_TEXT_MAX
) -> list[str]:
    """Lines of mrkdwn joined into chunks of at most `chunk_max` characters (one per section or
    context element), spending at most `budget` characters in all. Lines past the budget are
    not dropped silently: the last chunk ends with `more(n)`, e.g. "…and 12 more slices"."""
    chunks: list[list[str]] = [[]]
    sizes = [0]
    spent = 0
    hidden = 0
    for index, raw in enumerate(lines):
        line = cut(raw, chunk_max)
        last = index == len(lines) - 1
        reserve = 0 if last else len(more(len(lines) - index)) + 1
        if spent + len(line) + 1 + reserve > budget:
            hidden = len(lines) - index
            break
        if sizes[-1] + len(line) + 1 > chunk_max:
            chunks.append([])
            sizes.append(0)
        chunks[-1].append(line)
        sizes[-1] += len(line) + 1
        spent += len(line) + 1
    if hidden:
        summary = more(hidden)
        if sizes[-1] + len(summary) + 1 > chunk_max:
            chunks.append([])
        chunks[-1].append(summary)
    return ["\n".join(chunk) for chunk in chunks if chunk]
