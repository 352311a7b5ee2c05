"""The database engine, set up for several processes and threads writing at once."""

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url

# How long a SQLite writer waits for another to finish before giving up.
_BUSY_TIMEOUT_MS = 30_000
# The execution option naming the kind of SQLite BEGIN (see `for_writing`).
_SQLITE_BEGIN = "crucible_sqlite_begin"


def create_database_engine(url: str) -> Engine:
    database_url = make_url(url)
    if database_url.get_backend_name() != "sqlite":
        # Pooled connections outlive a database restart or failover; test them first.
        return create_engine(database_url, pool_pre_ping=True)
    _create_parent_directory(database_url)
    engine = create_engine(database_url)
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def for_writing(engine: Engine) -> Engine:
    """The same engine and pool, whose SQLite transactions take the write lock as they begin.

    A transaction that reads a row and then changes it must hold the lock
    from the read on, or two of them could both read `queued` and both
    move on. PostgreSQL needs no help: `SELECT … FOR UPDATE` locks the row.
    """
    return engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})


def _create_parent_directory(url: URL) -> None:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 driver would otherwise begin transactions itself, and only
    # before a write: a read followed by a write would not be one transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    _use_write_ahead_log(cursor)
    cursor.close()


def _use_write_ahead_log(cursor: Any) -> None:
    """Lets readers go on while one process writes.

    Switching a new database to WAL needs it to itself, and SQLite answers
    "locked" at once instead of waiting: processes opening a new database
    together take turns here.
    """
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _begin_sqlite_transaction(connection: Connection) -> None:
    mode = connection.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
