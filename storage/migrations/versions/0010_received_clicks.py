"""received clicks: a checkbox click is stored as it came before its ack, applied after it

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "received_click",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("phase_number", sa.Integer(), nullable=False),
        sa.Column("item_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("seen_version", sa.Integer(), nullable=False),
        sa.Column("selected", sa.Boolean(), nullable=False),
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reply", sqlmodel.sql.sqltypes.AutoString(length=3000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("received_click", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_received_click_project_id"), ["project_id"], unique=False)
        batch_op.create_index("ix_received_click_waiting", ["applied_at", "project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("received_click", schema=None) as batch_op:
        batch_op.drop_index("ix_received_click_waiting")
        batch_op.drop_index(batch_op.f("ix_received_click_project_id"))
    op.drop_table("received_click")
