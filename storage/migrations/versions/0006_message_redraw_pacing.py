"""message redraw pacing

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 11:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("drawn_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("redraw_claimed_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.drop_column("redraw_claimed_at")
        batch_op.drop_column("drawn_at")
