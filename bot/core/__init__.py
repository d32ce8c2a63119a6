"""Settings, clock and logging: what every layer of the bot shares."""
