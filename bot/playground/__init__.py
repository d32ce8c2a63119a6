"""`distill-bot playground`: the real bot and a stand-in Slack, in a browser."""
