"""Batches, and each evaluation's label, batch and place in its batch's finishing order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner", sa.String(length=36), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("finished", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index("ix_batches_owner", "batches", ["owner"])
    op.create_index("ix_batches_created_at_id", "batches", ["created_at", "id"])
    with op.batch_alter_table("evaluations") as table:
        table.add_column(sa.Column("label", sa.Text(), nullable=True))
        table.add_column(sa.Column("batch_id", sa.String(length=36), nullable=True))
        table.add_column(sa.Column("finish_sequence", sa.Integer(), nullable=True))
        table.create_foreign_key(
            op.f("fk_evaluations_batch_id_batches"), "batches", ["batch_id"], ["id"]
        )
        table.create_index("ix_evaluations_batch_id_status", ["batch_id", "status"])
        table.create_index(
            "ix_evaluations_batch_id_finish_sequence", ["batch_id", "finish_sequence"]
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        table.drop_index("ix_evaluations_batch_id_finish_sequence")
        table.drop_index("ix_evaluations_batch_id_status")
        table.drop_constraint(op.f("fk_evaluations_batch_id_batches"), type_="foreignkey")
        table.drop_column("finish_sequence")
        table.drop_column("batch_id")
        table.drop_column("label")
    op.drop_table("batches")
