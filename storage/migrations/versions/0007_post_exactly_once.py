"""post exactly once: evaluation tables as posted messages, settle checks, the repair index

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSETTLED = sa.text(
    "(ts IS NULL OR rendered_version < wanted_version OR check_after IS NOT NULL)"
    " AND (refused_version IS NULL OR refused_version < wanted_version)"
)


def upgrade() -> None:
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subject_id", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("check_after", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.drop_constraint("uq_message_slot", type_="unique")
        batch_op.create_unique_constraint(
            "uq_message_slot", ["project_id", "kind", "phase_number", "subject_id"]
        )
    op.create_index(
        "ix_posted_message_unsettled",
        "posted_message",
        ["project_id"],
        unique=False,
        sqlite_where=UNSETTLED,
        postgresql_where=UNSETTLED,
    )
    with op.batch_alter_table("nudge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("check_after", storage.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_nudge_check_after"), ["check_after"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("nudge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nudge_check_after"))
        batch_op.drop_column("check_after")
    op.drop_index("ix_posted_message_unsettled", table_name="posted_message")
    with op.batch_alter_table("posted_message", schema=None) as batch_op:
        batch_op.drop_constraint("uq_message_slot", type_="unique")
        batch_op.create_unique_constraint("uq_message_slot", ["project_id", "kind", "phase_number"])
        batch_op.drop_column("check_after")
        batch_op.drop_column("subject_id")
