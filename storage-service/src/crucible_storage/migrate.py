"""Bringing the database schema to the newest migration.

The service does it on start-up, so that the embedded SQLite just works;
`crucible-storage-migrate` does it alone, for deployments that migrate in a
one-shot step before the service starts. A new revision is written with
`alembic.command.revision(alembic_config(connection), autogenerate=True, ...)`.
"""

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, text

from crucible_shared.settings import StorageSettings
from crucible_storage.db.engine import create_database_engine, for_writing

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL names advisory locks by integers.
_MIGRATION_LOCK = 0x63727563


def alembic_config(connection: Connection) -> Config:
    """Alembic's configuration, without an alembic.ini: `migrations/env.py` runs on `connection`."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    # Processes starting together migrate one after the other, and the later
    # ones find nothing left to do: SQLite's write lock is taken at BEGIN,
    # PostgreSQL's advisory lock here.
    with for_writing(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), "head")


def main() -> None:
    """`crucible-storage-migrate`: upgrade the database of `CRUCIBLE_DATABASE_URL` to head."""
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    engine = create_database_engine(StorageSettings().database_url)
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()
