"""A pure Block Kit validator, at least as strict as Slack on the limits the bot depends on.

Every function returns a list of problems; an empty list means valid. Problems are written the
way Slack words them in `response_metadata.messages`, e.g.
`[ERROR] must be at most 3000 characters [json-pointer:/blocks/0/text/text]`, so a failing test
reads like the real API error would.

Sources: docs.slack.dev Block Kit reference and /work/shared/SLACK_FACTS.md. Where Slack's
documented and observed limits differ we take the stricter one (e.g. option value 75, not 150).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MESSAGE_MAX_BLOCKS = 50
VIEW_MAX_BLOCKS = 100
# Observed: past about this many characters of block text Slack answers msg_blocks_too_long.
MESSAGE_BLOCKS_TEXT_LIMIT = 13_200
# Documented as "250kb"; we count bytes of compact UTF-8 JSON and use the smaller decimal reading.
VIEW_MAX_BYTES = 250_000

ID_MAX = 255
TEXT_OBJECT_MAX = 3000
SECTION_TEXT_MAX = 3000
SECTION_FIELDS_MAX = 10
SECTION_FIELD_TEXT_MAX = 2000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
ACTIONS_ELEMENTS_MAX = 25
CHECKBOX_OPTIONS_MAX = 10
RADIO_OPTIONS_MAX = 10
OVERFLOW_OPTIONS_MAX = 5
SELECT_OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_DESCRIPTION_MAX = 75
OPTION_VALUE_MAX = 75  # docs now say 150, older docs 75: stay within 75
URL_MAX = 3000
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
BUTTON_ACCESSIBILITY_LABEL_MAX = 75
CONFIRM_TITLE_MAX = 100
CONFIRM_TEXT_MAX = 300
CONFIRM_BUTTON_MAX = 30
PLACEHOLDER_MAX = 150
IMAGE_ALT_TEXT_MAX = 2000
IMAGE_TITLE_MAX = 2000
INPUT_LABEL_MAX = 2000
INPUT_HINT_MAX = 2000
MARKDOWN_BLOCK_TEXT_MAX = 12_000
VIEW_TITLE_MAX = 24
VIEW_BUTTON_MAX = 24
PRIVATE_METADATA_MAX = 3000

# Block types and the keys each may carry; anything else is an "invalid additional property".
_BLOCK_KEYS: dict[str, frozenset[str]] = {
    "section": frozenset({"type", "block_id", "text", "fields", "accessory", "expand"}),
    "header": frozenset({"type", "block_id", "text"}),
    "context": frozenset({"type", "block_id", "elements"}),
    "actions": frozenset({"type", "block_id", "elements"}),
    "divider": frozenset({"type", "block_id"}),
    "image": frozenset({"type", "block_id", "image_url", "slack_file", "alt_text", "title"}),
    "input": frozenset({"type", "block_id", "label", "element", "dispatch_action", "hint", "optional"}),
    "rich_text": frozenset({"type", "block_id", "elements"}),
    "markdown": frozenset({"type", "block_id", "text"}),
    "video": frozenset(
        {
            "type",
            "block_id",
            "alt_text",
            "author_name",
            "description",
            "provider_icon_url",
            "provider_name",
            "title",
            "title_url",
            "thumbnail_url",
            "video_url",
        }
    ),
    "file": frozenset({"type", "block_id", "external_id", "source"}),
}
# `markdown` and `file` blocks only exist in messages.
_VIEW_BLOCK_TYPES = frozenset(_BLOCK_KEYS) - {"markdown", "file"}

_SELECTS = frozenset(
    {
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
_TEXT_INPUTS = frozenset(
    {"plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input"}
)
# Which elements each container accepts (docs.slack.dev "compatible blocks" per element).
_ACTIONS_ELEMENTS = (
    frozenset(
        {
            "button",
            "checkboxes",
            "datepicker",
            "datetimepicker",
            "overflow",
            "radio_buttons",
            "timepicker",
            "workflow_button",
            "rich_text_input",
        }
    )
    | _SELECTS
)
_ACCESSORY_ELEMENTS = (
    frozenset(
        {
            "button",
            "checkboxes",
            "datepicker",
            "image",
            "overflow",
            "radio_buttons",
            "timepicker",
            "workflow_button",
        }
    )
    | _SELECTS
)
_INPUT_ELEMENTS = (
    frozenset({"checkboxes", "datepicker", "datetimepicker", "radio_buttons", "timepicker", "file_input"})
    | _SELECTS
    | _TEXT_INPUTS
)

_COMMON_ELEMENT_KEYS = frozenset({"type", "action_id", "confirm", "focus_on_load", "placeholder"})
_ELEMENT_KEYS: dict[str, frozenset[str]] = {
    "button": frozenset(
        {"type", "text", "action_id", "url", "value", "style", "confirm", "accessibility_label"}
    ),
    "checkboxes": frozenset({"type", "action_id", "options", "initial_options", "confirm", "focus_on_load"}),
    "radio_buttons": frozenset(
        {"type", "action_id", "options", "initial_option", "confirm", "focus_on_load"}
    ),
    "overflow": frozenset({"type", "action_id", "options", "confirm"}),
    "datepicker": _COMMON_ELEMENT_KEYS | {"initial_date"},
    "timepicker": _COMMON_ELEMENT_KEYS | {"initial_time", "timezone"},
    "datetimepicker": frozenset({"type", "action_id", "initial_date_time", "confirm", "focus_on_load"}),
    "image": frozenset({"type", "image_url", "slack_file", "alt_text"}),
    "plain_text_input": frozenset(
        {
            "type",
            "action_id",
            "placeholder",
            "initial_value",
            "multiline",
            "min_length",
            "max_length",
            "dispatch_action_config",
            "focus_on_load",
        }
    ),
    "static_select": _COMMON_ELEMENT_KEYS | {"options", "option_groups", "initial_option"},
    "multi_static_select": _COMMON_ELEMENT_KEYS
    | {"options", "option_groups", "initial_options", "max_selected_items"},
}

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Checker:
    """Walks one message or view, collecting problems and the ids that must be unique in it."""

    def __init__(self, *, surface: str) -> None:
        self.surface = surface  # "message" or "view": a few block types differ
        self.problems: list[str] = []
        self.block_ids: set[str] = set()
        self.action_ids: set[str] = set()

    # -- primitives --------------------------------------------------------------------------------

    def fail(self, ptr: str, message: str) -> None:
        self.problems.append(f"[ERROR] {message} [json-pointer:{ptr}]")

    def keys(
        self, obj: dict[str, Any], ptr: str, allowed: frozenset[str], required: Iterable[str] = ()
    ) -> None:
        for key in sorted(set(obj) - allowed):
            self.fail(ptr, f"invalid additional property: {key}")
        for key in required:
            if key not in obj:
                self.fail(ptr, f"missing required field: {key}")

    def string(self, value: Any, ptr: str, *, max_len: int, min_len: int = 1) -> bool:
        if not isinstance(value, str):
            self.fail(ptr, "must be a string")
            return False
        if len(value) < min_len:
            self.fail(ptr, f"must be at least {min_len} characters")
            return False
        if len(value) > max_len:
            self.fail(ptr, f"must be at most {max_len} characters")
            return False
        return True

    def text_object(self, obj: Any, ptr: str, *, max_len: int, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail(ptr, "must be a text object")
            return
        kind = obj.get("type")
        allowed_kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if kind not in allowed_kinds:
            self.fail(f"{ptr}/type", f"must be one of {', '.join(allowed_kinds)}")
            return
        extra = "emoji" if kind == "plain_text" else "verbatim"
        self.keys(obj, ptr, frozenset({"type", "text", extra}), required=("text",))
        if "text" in obj:
            self.string(obj["text"], f"{ptr}/text", max_len=max_len)
        if extra in obj and not isinstance(obj[extra], bool):
            self.fail(f"{ptr}/{extra}", "must be a boolean")

    def block_id(self, block: dict[str, Any], ptr: str) -> None:
        if "block_id" not in block:
            return
        value = block["block_id"]
        if self.string(value, f"{ptr}/block_id", max_len=ID_MAX):
            if value in self.block_ids:
                self.fail(f"{ptr}/block_id", f"duplicate block_id: {value}")
            self.block_ids.add(value)

    def action_id(self, element: dict[str, Any], ptr: str) -> None:
        if "action_id" not in element:
            return  # optional: Slack generates one
        value = element["action_id"]
        if self.string(value, f"{ptr}/action_id", max_len=ID_MAX):
            # Docs say unique per block; SLACK_FACTS says per message. Stay strict.
            if value in self.action_ids:
                self.fail(f"{ptr}/action_id", f"duplicate action_id: {value}")
            self.action_ids.add(value)

    def url(self, value: Any, ptr: str) -> None:
        self.string(value, ptr, max_len=URL_MAX)

    def confirm(self, obj: Any, ptr: str) -> None:
        if not isinstance(obj, dict):
            self.fail(ptr, "must be a confirmation dialog object")
            return
        self.keys(
            obj,
            ptr,
            frozenset({"title", "text", "confirm", "deny", "style"}),
            required=("title", "text", "confirm", "deny"),
        )
        # Current docs: all four are plain_text text objects.
        if "title" in obj:
            self.text_object(obj["title"], f"{ptr}/title", max_len=CONFIRM_TITLE_MAX, plain_only=True)
        if "text" in obj:
            self.text_object(obj["text"], f"{ptr}/text", max_len=CONFIRM_TEXT_MAX, plain_only=True)
        for key in ("confirm", "deny"):
            if key in obj:
                self.text_object(obj[key], f"{ptr}/{key}", max_len=CONFIRM_BUTTON_MAX, plain_only=True)
        if "style" in obj and obj["style"] not in ("primary", "danger"):
            self.fail(f"{ptr}/style", "must be one of primary, danger")

    def placeholder(self, element: dict[str, Any], ptr: str) -> None:
        if "placeholder" in element:
            self.text_object(
                element["placeholder"], f"{ptr}/placeholder", max_len=PLACEHOLDER_MAX, plain_only=True
            )

    # -- options -----------------------------------------------------------------------------------

    def option(self, obj: Any, ptr: str, *, mrkdwn_ok: bool, url_ok: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail(ptr, "must be an option object")
            return
        allowed = {"text", "value", "description"} | ({"url"} if url_ok else set())
        self.keys(obj, ptr, frozenset(allowed), required=("text", "value"))
        if "text" in obj:
            self.text_object(obj["text"], f"{ptr}/text", max_len=OPTION_TEXT_MAX, plain_only=not mrkdwn_ok)
        if "value" in obj:
            self.string(obj["value"], f"{ptr}/value", max_len=OPTION_VALUE_MAX)
        if "description" in obj:
            self.text_object(
                obj["description"],
                f"{ptr}/description",
                max_len=OPTION_DESCRIPTION_MAX,
                plain_only=not mrkdwn_ok,
            )
        if "url" in obj:
            self.url(obj["url"], f"{ptr}/url")

    def options(
        self, element: dict[str, Any], ptr: str, *, max_items: int, mrkdwn_ok: bool, url_ok: bool = False
    ) -> list[Any]:
        options = element.get("options")
        if not isinstance(options, list) or not options:
            self.fail(f"{ptr}/options", "must provide at least 1 items")
            return []
        if len(options) > max_items:
            self.fail(f"{ptr}/options", f"must provide at most {max_items} items")
        values: set[str] = set()
        for i, option in enumerate(options):
            self.option(option, f"{ptr}/options/{i}", mrkdwn_ok=mrkdwn_ok, url_ok=url_ok)
            value = option.get("value") if isinstance(option, dict) else None
            if isinstance(value, str):
                if value in values:
                    self.fail(f"{ptr}/options/{i}/value", f"duplicate option value: {value}")
                values.add(value)
        return options

    def initial_options(self, element: dict[str, Any], ptr: str, options: list[Any], *, key: str) -> None:
        """`initial_options` / `initial_option` must each equal one of `options` exactly (observed)."""
        if key not in element:
            return
        chosen = element[key]
        if key == "initial_option":
            chosen_list = [chosen]
        elif not isinstance(chosen, list) or not chosen:
            # An empty list is refused ("must provide at least 1 items"): omit the key instead.
            self.fail(f"{ptr}/{key}", "must provide at least 1 items")
            return
        else:
            chosen_list = chosen
        for i, option in enumerate(chosen_list):
            where = f"{ptr}/{key}" if key == "initial_option" else f"{ptr}/{key}/{i}"
            if option not in options:
                self.fail(where, "must exactly match one of the element's options (text, value, description)")

    # -- elements ----------------------------------------------------------------------------------

    def element(self, el: Any, ptr: str, *, allowed_types: frozenset[str], where: str) -> None:
        if not isinstance(el, dict):
            self.fail(ptr, "must be an object")
            return
        kind = el.get("type")
        if kind not in allowed_types:
            self.fail(f"{ptr}/type", f"element type {kind!r} is not allowed in {where}")
            return
        if kind in _ELEMENT_KEYS:
            self.keys(el, ptr, _ELEMENT_KEYS[kind])
        if kind != "image":
            self.action_id(el, ptr)
        if "confirm" in el:
            self.confirm(el["confirm"], f"{ptr}/confirm")
        self.placeholder(el, ptr)
        check = getattr(self, f"element_{kind}", None)
        if check is not None:
            check(el, ptr)

    def element_button(self, el: dict[str, Any], ptr: str) -> None:
        if "text" not in el:
            self.fail(ptr, "missing required field: text")
        else:
            self.text_object(el["text"], f"{ptr}/text", max_len=BUTTON_TEXT_MAX, plain_only=True)
        if "value" in el:
            self.string(el["value"], f"{ptr}/value", max_len=BUTTON_VALUE_MAX)
        if "url" in el:
            self.url(el["url"], f"{ptr}/url")
        if "style" in el and el["style"] not in ("primary", "danger"):
            self.fail(f"{ptr}/style", "must be one of primary, danger")
        if "accessibility_label" in el:
            self.string(
                el["accessibility_label"],
                f"{ptr}/accessibility_label",
                max_len=BUTTON_ACCESSIBILITY_LABEL_MAX,
            )

    def element_checkboxes(self, el: dict[str, Any], ptr: str) -> None:
        options = self.options(el, ptr, max_items=CHECKBOX_OPTIONS_MAX, mrkdwn_ok=True)
        self.initial_options(el, ptr, options, key="initial_options")

    def element_radio_buttons(self, el: dict[str, Any], ptr: str) -> None:
        options = self.options(el, ptr, max_items=RADIO_OPTIONS_MAX, mrkdwn_ok=True)
        self.initial_options(el, ptr, options, key="initial_option")

    def element_overflow(self, el: dict[str, Any], ptr: str) -> None:
        self.options(el, ptr, max_items=OVERFLOW_OPTIONS_MAX, mrkdwn_ok=False, url_ok=True)

    def element_static_select(self, el: dict[str, Any], ptr: str) -> None:
        options = self._select_options(el, ptr)
        self.initial_options(el, ptr, options, key="initial_option")

    def element_multi_static_select(self, el: dict[str, Any], ptr: str) -> None:
        options = self._select_options(el, ptr)
        self.initial_options(el, ptr, options, key="initial_options")
        if "max_selected_items" in el and (
            not isinstance(el["max_selected_items"], int) or el["max_selected_items"] < 1
        ):
            self.fail(f"{ptr}/max_selected_items", "must be an integer of at least 1")

    def _select_options(self, el: dict[str, Any], ptr: str) -> list[Any]:
        if ("options" in el) == ("option_groups" in el):
            self.fail(ptr, "exactly one of options or option_groups is required")
            return []
        if "options" in el:
            return self.options(el, ptr, max_items=SELECT_OPTIONS_MAX, mrkdwn_ok=False)
        groups = el["option_groups"]
        if not isinstance(groups, list) or not groups or len(groups) > SELECT_OPTIONS_MAX:
            self.fail(f"{ptr}/option_groups", f"must provide 1 to {SELECT_OPTIONS_MAX} items")
            return []
        every: list[Any] = []
        for i, group in enumerate(groups):
            gptr = f"{ptr}/option_groups/{i}"
            if not isinstance(group, dict):
                self.fail(gptr, "must be an option group object")
                continue
            self.keys(group, gptr, frozenset({"label", "options"}), required=("label", "options"))
            if "label" in group:
                self.text_object(group["label"], f"{gptr}/label", max_len=OPTION_TEXT_MAX, plain_only=True)
            every.extend(self.options(group, gptr, max_items=SELECT_OPTIONS_MAX, mrkdwn_ok=False))
        return every

    def element_datepicker(self, el: dict[str, Any], ptr: str) -> None:
        if "initial_date" in el and not (
            isinstance(el["initial_date"], str) and _DATE_RE.match(el["initial_date"])
        ):
            self.fail(f"{ptr}/initial_date", "must be a date in the format YYYY-MM-DD")

    def element_timepicker(self, el: dict[str, Any], ptr: str) -> None:
        if "initial_time" in el and not (
            isinstance(el["initial_time"], str) and _TIME_RE.match(el["initial_time"])
        ):
            self.fail(f"{ptr}/initial_time", "must be a time in the format HH:mm")

    def element_image(self, el: dict[str, Any], ptr: str) -> None:
        self._image_source(el, ptr)
        if "alt_text" not in el:
            self.fail(ptr, "missing required field: alt_text")
        else:
            self.string(el["alt_text"], f"{ptr}/alt_text", max_len=IMAGE_ALT_TEXT_MAX)

    def element_plain_text_input(self, el: dict[str, Any], ptr: str) -> None:
        for key in ("min_length", "max_length"):
            if key in el and not (isinstance(el[key], int) and 0 <= el[key] <= TEXT_OBJECT_MAX):
                self.fail(f"{ptr}/{key}", f"must be an integer from 0 to {TEXT_OBJECT_MAX}")
        if "initial_value" in el:
            value = el["initial_value"]
            own_max = el["max_length"] if isinstance(el.get("max_length"), int) else TEXT_OBJECT_MAX
            # Docs: an initial_value longer than the element's own max_length is an error.
            self.string(value, f"{ptr}/initial_value", max_len=min(own_max, TEXT_OBJECT_MAX), min_len=0)

    def _image_source(self, obj: dict[str, Any], ptr: str) -> None:
        if ("image_url" in obj) == ("slack_file" in obj):
            self.fail(ptr, "exactly one of image_url or slack_file is required")
        elif "image_url" in obj:
            self.url(obj["image_url"], f"{ptr}/image_url")

    # -- blocks ------------------------------------------------------------------------------------

    def blocks(self, blocks: Any, ptr: str, *, max_blocks: int) -> None:
        if not isinstance(blocks, list):
            self.fail(ptr, "must be an array of blocks")
            return
        if len(blocks) > max_blocks:
            self.fail(ptr, f"must provide at most {max_blocks} items")
        for i, block in enumerate(blocks):
            self.block(block, f"{ptr}/{i}")

    def block(self, block: Any, ptr: str) -> None:
        if not isinstance(block, dict):
            self.fail(ptr, "must be a block object")
            return
        kind = block.get("type")
        known = _BLOCK_KEYS if self.surface == "message" else {k: _BLOCK_KEYS[k] for k in _VIEW_BLOCK_TYPES}
        if kind not in known:
            self.fail(f"{ptr}/type", f"unknown or unsupported block type {kind!r} in a {self.surface}")
            return
        self.keys(block, ptr, known[kind])
        self.block_id(block, ptr)
        getattr(self, f"block_{kind}")(block, ptr)

    def block_section(self, block: dict[str, Any], ptr: str) -> None:
        if "text" not in block and "fields" not in block:
            self.fail(ptr, "a section needs text or fields")
        if "text" in block:
            self.text_object(block["text"], f"{ptr}/text", max_len=SECTION_TEXT_MAX)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                self.fail(f"{ptr}/fields", "must provide at least 1 items")
            else:
                if len(fields) > SECTION_FIELDS_MAX:
                    self.fail(f"{ptr}/fields", f"must provide at most {SECTION_FIELDS_MAX} items")
                for i, field in enumerate(fields):
                    self.text_object(field, f"{ptr}/fields/{i}", max_len=SECTION_FIELD_TEXT_MAX)
        if "accessory" in block:
            self.element(
                block["accessory"],
                f"{ptr}/accessory",
                allowed_types=_ACCESSORY_ELEMENTS,
                where="a section accessory",
            )
        if "expand" in block and not isinstance(block["expand"], bool):
            self.fail(f"{ptr}/expand", "must be a boolean")

    def block_header(self, block: dict[str, Any], ptr: str) -> None:
        if "text" not in block:
            self.fail(ptr, "missing required field: text")
        else:
            self.text_object(block["text"], f"{ptr}/text", max_len=HEADER_TEXT_MAX, plain_only=True)

    def block_context(self, block: dict[str, Any], ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{ptr}/elements", "must provide at least 1 items")
            return
        if len(elements) > CONTEXT_ELEMENTS_MAX:
            self.fail(f"{ptr}/elements", f"must provide at most {CONTEXT_ELEMENTS_MAX} items")
        for i, el in enumerate(elements):
            eptr = f"{ptr}/elements/{i}"
            if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                self.text_object(el, eptr, max_len=TEXT_OBJECT_MAX)
            else:
                self.element(el, eptr, allowed_types=frozenset({"image"}), where="a context block")

    def block_actions(self, block: dict[str, Any], ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{ptr}/elements", "must provide at least 1 items")
            return
        if len(elements) > ACTIONS_ELEMENTS_MAX:
            self.fail(f"{ptr}/elements", f"must provide at most {ACTIONS_ELEMENTS_MAX} items")
        for i, el in enumerate(elements):
            self.element(el, f"{ptr}/elements/{i}", allowed_types=_ACTIONS_ELEMENTS, where="an actions block")

    def block_divider(self, block: dict[str, Any], ptr: str) -> None:
        pass  # nothing but type and block_id

    def block_image(self, block: dict[str, Any], ptr: str) -> None:
        self._image_source(block, ptr)
        if "alt_text" not in block:
            self.fail(ptr, "missing required field: alt_text")
        else:
            self.string(block["alt_text"], f"{ptr}/alt_text", max_len=IMAGE_ALT_TEXT_MAX)
        if "title" in block:
            self.text_object(block["title"], f"{ptr}/title", max_len=IMAGE_TITLE_MAX, plain_only=True)

    def block_input(self, block: dict[str, Any], ptr: str) -> None:
        if "label" not in block:
            self.fail(ptr, "missing required field: label")
        else:
            self.text_object(block["label"], f"{ptr}/label", max_len=INPUT_LABEL_MAX, plain_only=True)
        if "hint" in block:
            self.text_object(block["hint"], f"{ptr}/hint", max_len=INPUT_HINT_MAX, plain_only=True)
        if "element" not in block:
            self.fail(ptr, "missing required field: element")
        else:
            self.element(
                block["element"], f"{ptr}/element", allowed_types=_INPUT_ELEMENTS, where="an input block"
            )
        for key in ("optional", "dispatch_action"):
            if key in block and not isinstance(block[key], bool):
                self.fail(f"{ptr}/{key}", "must be a boolean")

    def block_rich_text(self, block: dict[str, Any], ptr: str) -> None:
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            self.fail(f"{ptr}/elements", "must provide at least 1 items")
            return
        kinds = ("rich_text_section", "rich_text_list", "rich_text_preformatted", "rich_text_quote")
        for i, el in enumerate(elements):
            if not isinstance(el, dict) or el.get("type") not in kinds:
                self.fail(f"{ptr}/elements/{i}/type", f"must be one of {', '.join(kinds)}")
            elif not isinstance(el.get("elements"), list):
                self.fail(f"{ptr}/elements/{i}/elements", "must be an array")

    def block_markdown(self, block: dict[str, Any], ptr: str) -> None:
        if "text" not in block:
            self.fail(ptr, "missing required field: text")
        else:
            self.string(block["text"], f"{ptr}/text", max_len=MARKDOWN_BLOCK_TEXT_MAX)

    def block_video(self, block: dict[str, Any], ptr: str) -> None:
        for key in ("alt_text", "title", "thumbnail_url", "video_url"):
            if key not in block:
                self.fail(ptr, f"missing required field: {key}")

    def block_file(self, block: dict[str, Any], ptr: str) -> None:
        for key in ("external_id", "source"):
            if key not in block:
                self.fail(ptr, f"missing required field: {key}")


# -- public API ------------------------------------------------------------------------------------


def validate_message_blocks(blocks: Any) -> list[str]:
    """Problems with a message's `blocks` array (what chat.postMessage would call invalid_blocks).

    The message-wide text budget is separate (see `blocks_text_length`): Slack reports it as
    msg_blocks_too_long rather than invalid_blocks.
    """
    checker = _Checker(surface="message")
    checker.blocks(blocks, "/blocks", max_blocks=MESSAGE_MAX_BLOCKS)
    return checker.problems


def blocks_text_length(blocks: Any) -> int:
    """Characters of text across all blocks: every string under a `text` key, at any depth."""
    if isinstance(blocks, dict):
        return sum(
            len(value) if key == "text" and isinstance(value, str) else blocks_text_length(value)
            for key, value in blocks.items()
        )
    if isinstance(blocks, list):
        return sum(blocks_text_length(item) for item in blocks)
    return 0


def view_size_bytes(view: Any) -> int:
    """Size of the view as Slack would receive it (compact JSON, UTF-8)."""
    return len(json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def validate_view(view: Any) -> list[str]:
    """Problems with a modal or Home tab view (what views.* report as invalid_arguments).

    The overall size limit is separate (`view_size_bytes`): Slack reports it as view_too_large.
    """
    checker = _Checker(surface="view")
    ptr = "/view"
    if not isinstance(view, dict):
        checker.fail(ptr, "must be a view object")
        return checker.problems
    kind = view.get("type")
    if kind == "modal":
        allowed = frozenset(
            {
                "type",
                "title",
                "blocks",
                "close",
                "submit",
                "private_metadata",
                "callback_id",
                "clear_on_close",
                "notify_on_close",
                "external_id",
                "submit_disabled",
            }
        )
        checker.keys(view, ptr, allowed, required=("title", "blocks"))
        if "title" in view:
            checker.text_object(view["title"], f"{ptr}/title", max_len=VIEW_TITLE_MAX, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text_object(view[key], f"{ptr}/{key}", max_len=VIEW_BUTTON_MAX, plain_only=True)
        has_input = isinstance(view.get("blocks"), list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in view["blocks"]
        )
        if has_input and "submit" not in view:
            checker.fail(ptr, "missing required field: submit (required when the view has input blocks)")
    elif kind == "home":
        allowed = frozenset({"type", "blocks", "private_metadata", "callback_id", "external_id"})
        checker.keys(view, ptr, allowed, required=("blocks",))
    else:
        checker.fail(f"{ptr}/type", "must be one of modal, home")
        return checker.problems
    if "private_metadata" in view:
        checker.string(
            view["private_metadata"], f"{ptr}/private_metadata", max_len=PRIVATE_METADATA_MAX, min_len=0
        )
    for key in ("callback_id", "external_id"):
        if key in view:
            checker.string(view[key], f"{ptr}/{key}", max_len=ID_MAX)
    for key in ("clear_on_close", "notify_on_close", "submit_disabled"):
        if key in view and not isinstance(view[key], bool):
            checker.fail(f"{ptr}/{key}", "must be a boolean")
    if "blocks" in view:
        checker.blocks(view["blocks"], f"{ptr}/blocks", max_blocks=VIEW_MAX_BLOCKS)
    return checker.problems
