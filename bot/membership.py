"""Channel membership: the bot's, so it can always read its own thread back; a person's, so
the Home tab shows them only the projects of channels they are in.

`chat:write.public` lets the bot post in a public channel it never joined, but reading that
channel (`conversations.history`, `conversations.replies`) answers `not_in_channel`, and every
recovery path reads back before it posts again. So a project starts only where the bot is a
member: it joins public channels itself (`channels:join`); private ones need an invite.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.core.clock import Clock

log = logging.getLogger(__name__)

# users.conversations pages (Slack recommends at most 200 a page), and how many to walk: a
# person in more channels than this sees the projects of the first 5,000 only.
CHANNELS_PAGE_SIZE = 200
CHANNELS_MAX_PAGES = 25

# How long a person's channels, once listed, serve their Home tab. users.conversations is
# Tier 3 (about 50 calls a minute for the whole workspace) and Slack sends app_home_opened
# each time someone clicks the tab. Sooner than this, a member_joined_channel or
# member_left_channel event about them, or a project newer than the list, lists them again.
CHANNELS_KEPT_FOR = timedelta(minutes=5)
# Channel ids kept for all people together: memory stays bounded whoever is in thousands of
# channels; the people who opened the tab longest ago are forgotten first.
CHANNELS_KEPT_MAX = 200_000

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


@dataclass(frozen=True)
class _Listed:
    channels: frozenset[str]
    at: datetime
    newest_project: int  # the newest project when listed: a newer one may be in a channel joined since


class ChannelsOfPeople:
    """`channels_of`, each answer reused for a while: for the Home tab, which Slack asks for
    again each time a person opens it.

    A person who joins or leaves a channel the bot is in is listed again at once (`forget`,
    from Slack's member events). A person who joined a channel before the bot did has no event
    to tell of it, but a project there is newer than their list, which is then listed again.
    Each replica keeps its own lists; another replica's member events reach it only through
    `CHANNELS_KEPT_FOR`."""

    def __init__(
        self,
        slack: WebClient,
        clock: Clock,
        *,
        kept_for: timedelta = CHANNELS_KEPT_FOR,
        max_channels: int = CHANNELS_KEPT_MAX,
    ) -> None:
        self.slack = slack
        self.clock = clock
        self.kept_for = kept_for
        self.max_channels = max_channels
        self._lock = threading.Lock()
        self._listed: OrderedDict[tuple[str, str], _Listed] = OrderedDict()  # oldest use first
        self._kept = 0  # channel ids in `_listed`
        self._forgets = 0  # `forget` calls so far: a list Slack gave during one may be out of date

    def of(self, team_id: str, user_id: str, *, newest_project: int) -> frozenset[str] | None:
        """The person's channels, or None when Slack did not say. `newest_project` is the
        newest project's id as the caller last read it (a Slack call may follow: not in a
        transaction)."""
        key = (team_id, user_id)
        now = self.clock()
        with self._lock:
            listed = self._listed.get(key)
            if (
                listed is not None
                and now - listed.at < self.kept_for
                and listed.newest_project >= newest_project
            ):
                self._listed.move_to_end(key)
                return listed.channels
            forgets = self._forgets
        channels = channels_of(self.slack, user_id)
        if channels is not None:
            self._keep(key, _Listed(channels, now, newest_project), forgets)
        return channels

    def forget(self, team_id: str, user_id: str) -> None:
        """The person joined or left a channel: list their channels again next time."""
        with self._lock:
            self._forgets += 1
            self._drop((team_id, user_id))

    def _keep(self, key: tuple[str, str], listed: _Listed, forgets: int) -> None:
        with self._lock:
            self._drop(key)
            if forgets != self._forgets or len(listed.channels) > self.max_channels:
                return
            self._listed[key] = listed
            self._kept += len(listed.channels)
            while self._kept > self.max_channels:
                self._drop(next(iter(self._listed)))

    def _drop(self, key: tuple[str, str]) -> None:
        listed = self._listed.pop(key, None)
        if listed is not None:
            self._kept -= len(listed.channels)
