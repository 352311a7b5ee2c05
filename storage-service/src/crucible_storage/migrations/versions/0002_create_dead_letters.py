"""Create dead_letters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("evaluation_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requeued_as", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.id"],
            name=op.f("fk_dead_letters_evaluation_id_evaluations"),
        ),
        sa.ForeignKeyConstraint(
            ["requeued_as"],
            ["evaluations.id"],
            name=op.f("fk_dead_letters_requeued_as_evaluations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
        sa.UniqueConstraint("evaluation_id", name=op.f("uq_dead_letters_evaluation_id")),
    )
    op.create_index("ix_dead_letters_created_at_id", "dead_letters", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_dead_letters_created_at_id", table_name="dead_letters")
    op.drop_table("dead_letters")
