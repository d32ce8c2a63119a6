"""What the playground keeps beside the bot's tables: the stand-in Slack's workspace and the clock.

One row per key in `playground_state`, in the same SQLite file as the bot's data, so a second
run of `distill-bot playground` continues where the first one stopped. The table is the
playground's own (created here, not by a migration): a real deployment never has it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, select

_metadata = MetaData()
playground_state = Table(
    "playground_state",
    _metadata,
    Column("key", String(40), primary_key=True),
    Column("value", Text, nullable=False),
)


class PlaygroundStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        _metadata.create_all(engine)

    def load(self) -> dict[str, Any]:
        with self.engine.connect() as connection:
            rows = connection.execute(select(playground_state.c.key, playground_state.c.value)).all()
        return {key: json.loads(value) for key, value in rows}

    def save(self, values: dict[str, Any]) -> None:
        with self.engine.begin() as connection:
            for key, value in values.items():
                connection.execute(playground_state.delete().where(playground_state.c.key == key))
                connection.execute(playground_state.insert().values(key=key, value=json.dumps(value)))
