"""Alembic environment: runs on the connection storage.migrate hands over, inside its transaction."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can alter tables only by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_run(config.attributes["connection"])
