"""Load and validate a checklist template from its YAML data file.

The limits here are the ones that keep every rendered message inside Slack's Block Kit
limits (see rendering/): validating at start-up means a team's adapted checklist fails
loudly on launch instead of as `invalid_blocks` in front of users.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

DEFAULT_TEMPLATE = "default.yml"

# A key travels inside Block Kit ids and option values, so keep it short and plain.
Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")]
# One section block carries title, reason and the "ticked by" line: 3000 characters at most.
ItemTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
ItemReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400)]
# The header reads "Phase 7 of 7: <title>" and a header holds 150 characters.
PhaseTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PhaseIntro = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]

# A phase message is a header, an intro, one section per item and a footer: 50 blocks at most,
# and Slack refuses messages whose block text passes about 13,200 characters.
MAX_ITEMS_PER_PHASE = 20
MAX_PHASES = 20
MAX_PHASE_TEXT = 7_500  # leaves room for a tick or waiver line on every item


def sent_length(text: str) -> int:
    """Characters Slack counts once text is sent as mrkdwn: & < > go escaped, 4 or 5 characters each."""
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


class TemplateError(ValueError):
    """The checklist file is missing, unreadable or breaks a rule."""


EvidenceKind = Literal[
    "quality-bar",
    "slice-bars",
    "cost-latency-targets",
    "acceptable-gap",
    "evaluation",
    "evaluation-slices",
    "critical-slices-pass",
    "partial-rollout",
]


class Item(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: Key
    title: ItemTitle
    reason: ItemReason
    evidence: EvidenceKind | None = None

    @property
    def short_title(self) -> str:
        """The title within Slack's 75 characters for option texts."""
        return self.title if len(self.title) <= 75 else self.title[:74] + "…"


class Phase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: Key
    title: PhaseTitle
    intro: PhaseIntro = ""
    items: tuple[Item, ...] = Field(min_length=1, max_length=MAX_ITEMS_PER_PHASE)

    @model_validator(mode="after")
    def _fits_one_message(self) -> Phase:
        text = sent_length(self.intro) + sum(
            sent_length(item.title) + sent_length(item.reason) for item in self.items
        )
        if text > MAX_PHASE_TEXT:
            raise ValueError(
                f"phase {self.key!r} has {text} characters of text; at most {MAX_PHASE_TEXT} fit"
            )
        return self


class Template(BaseModel):
    """A validated checklist: ordered phases of ordered items, keys unique across the whole list."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Key
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    phases: tuple[Phase, ...] = Field(min_length=1, max_length=MAX_PHASES)

    @model_validator(mode="after")
    def _keys_are_unique(self) -> Template:
        for kind, keys in (
            ("phase", [phase.key for phase in self.phases]),
            ("item", [item.key for phase in self.phases for item in phase.items]),
        ):
            duplicates = sorted({key for key in keys if keys.count(key) > 1})
            if duplicates:
                raise ValueError(f"{kind} keys must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def item_count(self) -> int:
        return sum(len(phase.items) for phase in self.phases)

    def phase(self, number: int) -> Phase:
        """The phase by its 1-based number, as users see it."""
        if not 1 <= number <= len(self.phases):
            raise KeyError(f"no phase {number} in a {len(self.phases)}-phase checklist")
        return self.phases[number - 1]

    def item(self, item_key: str) -> Item | None:
        return next((item for phase in self.phases for item in phase.items if item.key == item_key), None)


def parse_template(text: str, *, source: str = "<string>") -> Template:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TemplateError(f"{source}: not valid YAML: {error}") from None
    try:
        return Template.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'checklist'}: {problem['msg']}"
            for problem in error.errors(include_input=False)
        )
        raise TemplateError(f"{source}: {problems}") from None


def load_template(path: Path | None = None) -> Template:
    """Load the checklist at `path`, or the bundled default checklist."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_TEMPLATE).read_text(encoding="utf-8")
        return parse_template(text, source=DEFAULT_TEMPLATE)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"{path}: cannot read: {error.strerror}") from None
    return parse_template(text, source=str(path))
