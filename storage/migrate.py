"""Apply the Alembic migrations in storage/migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together take turns at migrating.
_MIGRATION_LOCK_KEY = 7_301_846_522


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run from several processes at once.

    Every migration runs in one transaction that first takes a database-wide lock, so replicas
    starting together take turns: each reads the version only once the one before has committed.
    (Alembic alone would read the version and commit each SQLite migration on its own, letting
    two replicas both add the same column.)"""
    config = alembic_config()
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # Transaction-scoped: released by the commit (or the rollback) below.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        else:
            connection.begin()  # BEGIN IMMEDIATE (storage.engine): SQLite's write lock, held until commit
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()
