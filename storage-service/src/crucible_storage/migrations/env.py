"""Alembic's entry point: migrates the connection that `crucible_storage.migrate` hands over."""

from alembic import context
from sqlalchemy import Connection

from crucible_storage.db.models import Base

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite alters a table by copying it; batch mode writes migrations that way.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
