"""message refusals: what Slack refused for good, and at which version

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 11:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refused_reason", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("refused_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.drop_column("refused_version")
        batch_op.drop_column("refused_reason")
