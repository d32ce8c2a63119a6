"""lifecycle: stop, reopen, rollout, the project record, Events API receipts

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 10:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_at", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("stopped_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("outcome_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True)
        )
        batch_op.add_column(
            sa.Column("rollout_stage", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True)
        )
        batch_op.add_column(
            sa.Column("rollout_since", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        for name in ("bars_void_through", "evaluations_void_through", "rollout_void_through"):
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))

    op.create_table(
        "project_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("phase_number", sa.Integer(), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("project_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_event_project_id"), ["project_id"], unique=False)

    op.create_table(
        "event_receipt",
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("received_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("event_receipt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_receipt_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_receipt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_receipt_received_at"))
    op.drop_table("event_receipt")
    with op.batch_alter_table("project_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_event_project_id"))
    op.drop_table("project_event")
    with op.batch_alter_table("project", schema=None) as batch_op:
        for name in (
            "rollout_void_through",
            "evaluations_void_through",
            "bars_void_through",
            "rollout_since",
            "rollout_stage",
            "outcome_reason",
            "outcome",
            "stopped_by",
            "stopped_at",
        ):
            batch_op.drop_column(name)
