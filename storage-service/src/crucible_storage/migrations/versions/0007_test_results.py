"""Test cases of a submission, their verdicts, and what judged them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        # Evaluations from before had no tests: an empty list, and no verdicts.
        table.add_column(sa.Column("tests", sa.JSON(), nullable=False, server_default="[]"))
        table.add_column(
            sa.Column(
                "stop_on_first_failure", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        table.add_column(sa.Column("tests_passed", sa.Integer(), nullable=True))
        table.add_column(sa.Column("tests_total", sa.Integer(), nullable=True))
        table.add_column(sa.Column("test_results", sa.JSON(), nullable=True))
        table.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default="[]"))
        table.add_column(sa.Column("provenance", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        for column in (
            "provenance",
            "flags",
            "test_results",
            "tests_total",
            "tests_passed",
            "stop_on_first_failure",
            "tests",
        ):
            table.drop_column(column)
