"""The App Home tab: the projects of the viewer's channels, newest activity first. Pure: rows
-> a view.

A Home tab view holds at most 100 blocks; the tab shows the most recently active projects
one section each and sums up the rest by status, so it fits however many projects there are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.rendering.messages import PROGRESS_BAR_WIDTH, ROLLOUT_LABELS, clip, escape, slack_date

# Header, intro and summary blocks plus one section per project shown: well inside 100 blocks.
HOME_PROJECTS_SHOWN = 40
STATUS_MARKS = {
    "open": ":large_green_circle: open",
    "shipped": ":rocket: shipped",
    "stopped": ":octagonal_sign: stopped",
    "paused": ":double_vertical_bar: paused",
}


@dataclass(frozen=True)
class HomeRow:
    name: str
    channel_id: str
    permalink: str | None
    cycle: int
    phase: int
    phase_count: int
    phase_title: str
    done: int
    total: int
    rollout_stage: str | None
    next_nudge: datetime | None
    status: str  # open, shipped, stopped or paused
    won: bool = False  # stopped in Phase 1 because a cheaper option cleared the targets


def home_view(rows: list[HomeRow], statuses: list[str]) -> dict[str, Any]:
    """`rows`: the projects shown, newest activity first; `statuses`: every project's status."""
    counts = Counter(statuses)
    summary = " · ".join(f"{counts[s]} {s}" for s in STATUS_MARKS if counts[s]) or "no projects yet"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Distillation projects"}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{len(statuses)} in your channels: {summary}. Newest activity first.",
                }
            ],
        },
        {"type": "divider"},
    ]
    if not rows:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "No projects in your channels yet. "
                    "Run `/distill start [name]` in a project's channel.",
                },
            }
        )
    blocks += [_project_section(row) for row in rows]
    rest = statuses[len(rows) :]
    if rest:
        rest_counts = Counter(rest)
        parts = " · ".join(f"{rest_counts[s]} {s}" for s in STATUS_MARKS if rest_counts[s])
        blocks += [
            {"type": "divider"},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"…and {len(rest)} more projects with older activity ({parts}). "
                        "`/distill status` in a project's channel shows any one of them.",
                    }
                ],
            },
        ]
    return {"type": "home", "blocks": blocks}


def home_view_without_channels() -> dict[str, Any]:
    """When Slack did not say which channels the viewer is in: no project is shown, since a
    private channel's project is for its members only."""
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "Distillation projects"}},
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Slack did not tell me which channels you are in, so I can't show your "
                    "projects just now. Open this tab again in a moment.",
                },
            },
        ],
    }


def _project_section(row: HomeRow) -> dict[str, Any]:
    name = clip(row.name, 200)
    title = f"<{row.permalink}|{name}>" if row.permalink else name
    filled = round(PROGRESS_BAR_WIDTH * row.done / row.total) if row.total else 0
    bar = "▰" * filled + "▱" * (PROGRESS_BAR_WIDTH - filled)
    if row.status == "shipped":
        standing = f"All {row.phase_count} phases passed"
    else:
        standing = f"Phase {row.phase} of {row.phase_count}: {escape(row.phase_title)}"
    status = STATUS_MARKS.get(row.status, row.status)
    if row.won:
        status += " (a win: a cheaper option cleared the targets)"
    details = [f"Cycle {row.cycle}", standing, f"{row.done}/{row.total} items `{bar}`"]
    if row.rollout_stage:
        details.append(f"Rollout: {ROLLOUT_LABELS.get(row.rollout_stage, escape(row.rollout_stage))}")
    details.append(f"Next nudge: {slack_date(row.next_nudge)}" if row.next_nudge else "No nudge due")
    text = f"*{title}* · <#{row.channel_id}> · {status}\n" + " · ".join(details)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}
