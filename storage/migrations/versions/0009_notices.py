"""notices: a move's one-off line in the thread is a claimed message, posted exactly once

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notice_text", sqlmodel.sql.sqltypes.AutoString(length=3000), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.drop_column("notice_text")
