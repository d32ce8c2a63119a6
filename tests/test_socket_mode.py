"""Socket Mode: the real `python -m bot` connects to the fake Slack's socket and works the same."""

from __future__ import annotations

from pathlib import Path

from bot.fake_slack import FakeSlack
from tests.checklist_flow import TEMPLATE, block_text, is_ticked, parent_of, replies_of
from tests.conftest import PROJECT_CHANNEL
from tests.processes import BotProcess, bot_environment, wait_for
from tests.support import APP_TOKEN, TEAM, click_payload, command_payload


def test_start_and_tick_over_socket_mode(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = bot_environment(fake_slack, f"sqlite:///{tmp_path / 'distill.db'}", SLACK_APP_TOKEN=APP_TOKEN)
    env.pop("SLACK_SIGNING_SECRET")  # not needed without HTTP
    bot = BotProcess(env, tmp_path, tmp_path / "bot.log")
    try:
        assert fake_slack.socket_connected(timeout=30), bot.log()
        assert fake_slack.calls_to("apps.connections.open")

        envelope = fake_slack.socket_send(
            "slash_commands",
            command_payload(fake_slack, "start Over the socket", PROJECT_CHANNEL, "UALICE", TEAM),
        )
        ack = fake_slack.socket_ack(envelope, timeout=10)
        assert ack is not None and ack["envelope_id"] == envelope

        wait_for(lambda: fake_slack.messages(PROJECT_CHANNEL)[1:], what="phase 1")
        [phase_one] = replies_of(fake_slack, PROJECT_CHANNEL)
        assert "Over the socket" in block_text(parent_of(fake_slack, PROJECT_CHANNEL))

        item = TEMPLATE.phase(1).items[0].key
        payload = click_payload(
            fake_slack,
            fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]),
            PROJECT_CHANNEL,
            item,
            True,
            "UBOB",
            TEAM,
        )
        envelope = fake_slack.socket_send("interactive", payload)
        assert fake_slack.socket_ack(envelope, timeout=10) is not None
        wait_for(
            lambda: is_ticked(fake_slack.message(PROJECT_CHANNEL, phase_one["ts"]), item), what="the tick"
        )
        # The same job redraws the parent just after the phase message: wait for it too.
        wait_for(
            lambda: "1/32 items" in block_text(parent_of(fake_slack, PROJECT_CHANNEL)),
            what="the parent's count",
        )
    finally:
        bot.stop()
