"""Each key's backlog bound, and an index for the reaper's look at what was queued lately.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from crucible_shared import limits

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as table:
        table.add_column(
            sa.Column(
                "max_queued",
                sa.Integer(),
                nullable=False,
                server_default=str(limits.MAX_QUEUED_PER_KEY.default),
            )
        )
    with op.batch_alter_table("evaluations") as table:
        table.create_index("ix_evaluations_status_queued_at", ["status", "queued_at"])


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        table.drop_index("ix_evaluations_status_queued_at")
    with op.batch_alter_table("api_keys") as table:
        table.drop_column("max_queued")
