"""Code hashes, output sizes and previews, soft deletion.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_evaluations = sa.table(
    "evaluations",
    sa.column("id", sa.String),
    sa.column("code", sa.LargeBinary),
    sa.column("code_sha256", sa.String),
    sa.column("stdout", sa.LargeBinary),
    sa.column("stderr", sa.LargeBinary),
    sa.column("stdout_bytes", sa.Integer),
    sa.column("stderr_bytes", sa.Integer),
)


def upgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        table.add_column(sa.Column("code_sha256", sa.String(length=64), nullable=True))
        for stream in ("stdout", "stderr"):
            table.add_column(
                sa.Column(f"{stream}_bytes", sa.Integer(), nullable=False, server_default="0")
            )
            table.add_column(
                sa.Column(
                    f"{stream}_preview", sa.Boolean(), nullable=False, server_default=sa.false()
                )
            )
        table.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    _backfill()
    with op.batch_alter_table("evaluations") as table:
        table.alter_column("code_sha256", existing_type=sa.String(length=64), nullable=False)
        table.create_index("ix_evaluations_code_sha256", ["code_sha256"])
        table.create_index("ix_evaluations_deleted_at", ["deleted_at"])
        table.create_index("ix_evaluations_finished_at", ["finished_at"])


def _backfill() -> None:
    # Rows written before this revision: hash their code, measure their outputs.
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(
            _evaluations.c.id, _evaluations.c.code, _evaluations.c.stdout, _evaluations.c.stderr
        )
    ).all()
    for evaluation_id, code, stdout, stderr in rows:
        connection.execute(
            _evaluations.update()
            .where(_evaluations.c.id == evaluation_id)
            .values(
                code_sha256=hashlib.sha256(bytes(code)).hexdigest(),
                stdout_bytes=len(bytes(stdout)),
                stderr_bytes=len(bytes(stderr)),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluations") as table:
        table.drop_index("ix_evaluations_finished_at")
        table.drop_index("ix_evaluations_deleted_at")
        table.drop_index("ix_evaluations_code_sha256")
        for column in (
            "deleted_at",
            "stderr_preview",
            "stderr_bytes",
            "stdout_preview",
            "stdout_bytes",
            "code_sha256",
        ):
            table.drop_column(column)
