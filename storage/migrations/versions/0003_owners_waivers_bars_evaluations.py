"""owners waivers bars evaluations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 22:58:19.105907
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "owner",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("added_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("added_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "user_id", name="uq_owner_project_user"),
    )
    with op.batch_alter_table("owner", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_owner_project_id"), ["project_id"], unique=False)

    op.create_table(
        "success_bars",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("quality_metric", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("quality_threshold", sa.Float(), nullable=False),
        sa.Column("cost_target", sa.Float(), nullable=True),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("acceptable_gap", sa.Float(), nullable=True),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recorded_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amendment_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("success_bars", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_success_bars_project_id"), ["project_id"], unique=False)

    op.create_table(
        "waiver",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("phase_number", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("waived_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("waived_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("waiver", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_waiver_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_waiver_project_id"), ["project_id"], unique=False)

    op.create_table(
        "evaluation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("bars_id", sa.Integer(), nullable=False),
        sa.Column("student_score", sa.Float(), nullable=False),
        sa.Column("teacher_score", sa.Float(), nullable=False),
        sa.Column("latency_p95_ms", sa.Float(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=True),
        sa.Column("recorded_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recorded_at", storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ts", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["bars_id"],
            ["success_bars.id"],
        ),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_project_id"), ["project_id"], unique=False)

    op.create_table(
        "slice_bar",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bars_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("metric", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["bars_id"], ["success_bars.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slice_bar", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slice_bar_bars_id"), ["bars_id"], unique=False)

    op.create_table(
        "slice_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evaluation_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("student_score", sa.Float(), nullable=False),
        sa.Column("teacher_score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["evaluation_id"], ["evaluation.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slice_score", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slice_score_evaluation_id"), ["evaluation_id"], unique=False)

    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("bars_committed_at", storage.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("bars_committed_by", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
    # Whoever started a project is its first owner, for projects made before owners existed.
    op.execute(
        "INSERT INTO owner (project_id, user_id, added_by, added_at) "
        "SELECT id, started_by, started_by, started_at FROM project"
    )


def downgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_column("bars_committed_by")
        batch_op.drop_column("bars_committed_at")

    with op.batch_alter_table("slice_score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slice_score_evaluation_id"))

    op.drop_table("slice_score")
    with op.batch_alter_table("slice_bar", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slice_bar_bars_id"))

    op.drop_table("slice_bar")
    with op.batch_alter_table("evaluation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_project_id"))

    op.drop_table("evaluation")
    with op.batch_alter_table("waiver", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waiver_project_id"))
        batch_op.drop_index(batch_op.f("ix_waiver_expires_at"))

    op.drop_table("waiver")
    with op.batch_alter_table("success_bars", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_success_bars_project_id"))

    op.drop_table("success_bars")
    with op.batch_alter_table("owner", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_owner_project_id"))

    op.drop_table("owner")
