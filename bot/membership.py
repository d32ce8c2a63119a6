"""Channel membership: the bot's, so it can always read its own thread back; a person's, so
the Home tab shows them only the projects of channels they are in.

`chat:write.public` lets the bot post in a public channel it never joined, but reading that
channel (`conversations.history`, `conversations.replies`) answers `not_in_channel`, and every
recovery path reads back before it posts again. So a project starts only where the bot is a
member: it joins public channels itself (`channels:join`); private ones need an invite.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)

# users.conversations pages (Slack recommends at most 200 a page), and how many to walk: a
# person in more channels than this sees the projects of the first 5,000 only.
CHANNELS_PAGE_SIZE = 200
CHANNELS_MAX_PAGES = 25

INVITE = "`/invite @Distill Bot`"
PRIVATE_WITHOUT_ME = (
    f"This is a private channel and I'm not in it. Invite me ({INVITE}), then run `/distill start` again."
)
CANNOT_JOIN = (
    "I can't join this channel by myself ({reason}), and I need to be a member to keep its "
    f"checklist thread in order. Invite me ({INVITE}), then run `/distill start` again."
)
ARCHIVED = "This channel is archived, so I can't run a checklist here."
NO_ANSWER = (
    "Slack did not answer when I joined this channel ({reason}); nothing was created. Try again in a minute."
)


def join(slack: WebClient, channel_id: str) -> str | None:
    """Make the bot a member of the channel; returns why it could not, for the user, else None."""
    try:
        slack.conversations_join(channel=channel_id)
        return None
    except SlackApiError as error:
        reason = str(error.response.get("error", "unknown_error"))
    except SlackClientError as error:  # timeouts, dropped connections
        return NO_ANSWER.format(reason=type(error).__name__)
    if reason == "method_not_supported_for_channel_type":
        return None  # a private channel the bot can see at all is one it was invited to
    if reason == "channel_not_found":
        return PRIVATE_WITHOUT_ME
    if reason == "is_archived":
        return ARCHIVED
    if reason in {"missing_scope", "restricted_action", "not_allowed_token_type"} and _is_member(
        slack, channel_id
    ):
        return None  # an install without channels:join, in a channel someone invited it to
    if reason in {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}:
        return NO_ANSWER.format(reason=reason)
    log.warning("cannot join channel %s: %s", channel_id, reason)
    return CANNOT_JOIN.format(reason=f"Slack said `{reason}`")


def _is_member(slack: WebClient, channel_id: str) -> bool:
    try:
        return bool(slack.conversations_info(channel=channel_id)["channel"]["is_member"])
    except (SlackClientError, KeyError, TypeError):
        return False


def channels_of(slack: WebClient, user_id: str) -> frozenset[str] | None:
    """The public and private channels `user_id` is in, or None when Slack did not say.

    Slack lists another person's private channels only where the bot is a member too, which
    every project's channel is; a private channel's project is never shown to someone outside."""
    channels: set[str] = set()
    cursor = ""
    try:
        for _ in range(CHANNELS_MAX_PAGES):
            page = slack.users_conversations(
                user=user_id,
                types="public_channel,private_channel",
                limit=CHANNELS_PAGE_SIZE,
                cursor=cursor or None,
            )
            channels.update(str(channel["id"]) for channel in page["channels"])
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
    except (SlackClientError, KeyError, TypeError) as error:
        log.warning("could not list a user's channels: %s", type(error).__name__)
        return None
    return frozenset(channels)
