"""API keys, and the key that owns each evaluation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.Column("submissions_per_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_keys_key_sha256")),
    )
    with op.batch_alter_table("evaluations") as table:
        # Evaluations from before keys existed belong to nobody: only admins and viewers see them.
        table.add_column(sa.Column("owner", sa.String(length=36), nullable=True))
        table.create_index("ix_evaluations_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        table.drop_index("ix_evaluations_owner")
        table.drop_column("owner")
    op.drop_table("api_keys")
