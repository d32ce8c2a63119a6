"""A fake Slack (Web API, response_url and Socket Mode) for testing the bot end to end."""

from .server import Call, Channel, FakeSlack, ManualClock, ResponseUrlPost, SlackError, User

__all__ = ["Call", "Channel", "FakeSlack", "ManualClock", "ResponseUrlPost", "SlackError", "User"]
