"""Persistence: tables, engine, queries and migrations. Knows nothing of Slack."""
