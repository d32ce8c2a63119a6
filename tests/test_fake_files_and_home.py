"""The fake's Home tab (views.publish) and file upload flow answer as Slack documents them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.fake_slack import FakeSlack


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as running:
        running.add_channel("C1", "general")
        running.add_channel("C2", "elsewhere", is_member=False)
        running.add_user("U1", "ann")
        yield running


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url)


def error_of(call: object) -> str:
    with pytest.raises(SlackApiError) as raised:
        call()  # type: ignore[operator]
    return str(raised.value.response["error"])


def test_views_publish_takes_home_views_within_limits(client: WebClient, fake: FakeSlack) -> None:
    home: dict[str, Any] = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    client.views_publish(user_id="U1", view=home)
    assert fake.home_view("U1")["blocks"] == home["blocks"]  # type: ignore[index]
    modal = {**home, "type": "modal", "title": {"type": "plain_text", "text": "x"}}
    assert error_of(lambda: client.views_publish(user_id="U1", view=modal)) == "invalid_arguments"
    too_many = {"type": "home", "blocks": home["blocks"] * 101}
    assert error_of(lambda: client.views_publish(user_id="U1", view=too_many)) == "invalid_arguments"
    assert error_of(lambda: client.views_publish(user_id="UNOBODY", view=home)) == "user_not_found"


def test_files_upload_v2_shares_into_a_thread(client: WebClient, fake: FakeSlack) -> None:
    parent = client.chat_postMessage(channel="C1", text="parent")["ts"]
    client.files_upload_v2(
        file_uploads=[{"filename": "a.csv", "content": "x,y\n1,2\n", "title": "A"}],
        channel="C1",
        thread_ts=parent,
        initial_comment="here",
    )
    [shared] = fake.files
    assert (shared["filename"], shared["title"], shared["thread_ts"], shared["content"]) == (
        "a.csv",
        "A",
        parent,
        b"x,y\n1,2\n",
    )
    assert [m["text"] for m in fake.messages("C1", thread_ts=parent)] == ["parent", "here"]


def test_files_need_an_upload_and_channel_membership(client: WebClient, fake: FakeSlack) -> None:
    assert (
        error_of(lambda: client.files_getUploadURLExternal(filename="a.txt", length=0)) == "missing_argument"
    )
    started = client.files_getUploadURLExternal(filename="a.txt", length=3)
    never_uploaded = [{"id": started["file_id"], "title": "a"}]
    assert error_of(lambda: client.files_completeUploadExternal(files=never_uploaded, channel_id="C1")) == (
        "file_not_found"
    )
    kept_out = {"filename": "b.txt", "content": "abc"}
    assert error_of(lambda: client.files_upload_v2(file_uploads=[kept_out], channel="C2")) == "not_in_channel"
    assert fake.files == []


def test_files_need_the_files_write_scope() -> None:
    with FakeSlack(scopes=frozenset({"chat:write"})) as fake:
        fake.add_channel("C1", "general")
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        assert (
            error_of(lambda: client.files_getUploadURLExternal(filename="a.txt", length=3)) == "missing_scope"
        )


def test_users_conversations_lists_a_users_channels_as_slack_does(fake: FakeSlack) -> None:
    """Another user's private channels are listed only where the bot is a member too; public
    ones wherever the user is; the bot's own listing, without `user`, is its memberships."""
    fake.add_user("U2", "bo")
    fake.add_channel("C3", "ann-only", members=["U1"])
    fake.add_channel("G1", "secret", is_private=True, members=["U1"])
    fake.add_channel("G2", "secret-without-bot", is_private=True, is_member=False, members=["U1"])
    fake.add_channel("G3", "bo-only", is_private=True, members=["U2"])
    fake.add_channel("C4", "old", is_archived=True)
    client = WebClient(token=fake.bot_token, base_url=fake.api_url)

    def listed(**args: Any) -> list[str]:
        return [c["id"] for c in client.users_conversations(**args)["channels"]]

    both = "public_channel,private_channel"
    assert listed(user="U1", types=both) == ["C1", "C2", "C3", "C4", "G1"]
    assert listed(user="U2", types=both) == ["C1", "C2", "C4", "G3"]
    assert listed(user="U2", types=both, exclude_archived=True) == ["C1", "C2", "G3"]
    assert listed(user="U1") == ["C1", "C2", "C3", "C4"]  # public channels unless told otherwise
    assert listed(types=both) == ["C1", "C3", "C4", "G1", "G3"]  # the bot's own
    page = client.users_conversations(user="U1", types=both, limit=2)
    assert [c["id"] for c in page["channels"]] == ["C1", "C2"]
    assert "is_member" not in page["channels"][0]
    rest = client.users_conversations(
        user="U1", types=both, limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [c["id"] for c in rest["channels"]] == ["C3", "C4"]
    assert error_of(lambda: client.users_conversations(user="UNOBODY")) == "user_not_found"
    assert error_of(lambda: client.users_conversations(types="public_channel,rooms")) == "invalid_types"
    assert error_of(lambda: client.users_conversations(limit=1000)) == "invalid_limit"
    assert error_of(lambda: client.users_conversations(cursor="bm9wZQ==")) == "invalid_cursor"
    # Someone outside a channel gets no ephemeral message in it.
    assert client.chat_postEphemeral(channel="C3", user="U1", text="hi")["ok"]
    assert (
        error_of(lambda: client.chat_postEphemeral(channel="C3", user="U2", text="hi"))
        == "user_not_in_channel"
    )


def test_users_conversations_needs_the_scope_of_each_kind_listed() -> None:
    with FakeSlack(scopes=frozenset({"channels:read"})) as fake:
        client = WebClient(token=fake.bot_token, base_url=fake.api_url)
        assert client.users_conversations(types="public_channel")["ok"]
        with pytest.raises(SlackApiError) as refused:
            client.users_conversations(types="public_channel,private_channel")
        assert refused.value.response["error"] == "missing_scope"
        assert refused.value.response["needed"] == "groups:read"
