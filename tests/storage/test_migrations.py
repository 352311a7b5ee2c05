"""The Alembic migrations, on SQLite and PostgreSQL alike."""

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from crucible_storage.db.engine import create_database_engine
from crucible_storage.db.models import Base
from crucible_storage.migrate import alembic_config, upgrade_to_head

_TABLES = {
    "alembic_version",
    "evaluations",
    "evaluation_events",
    "dead_letters",
    "api_keys",
    "batches",
}


@pytest.fixture
def fresh_engine(fresh_database_url: str) -> Iterator[Engine]:
    engine = create_database_engine(fresh_database_url)
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _head(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return ScriptDirectory.from_config(alembic_config(connection)).get_current_head()


def _differences_from_the_models(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_the_migrations_go_down_to_base_and_up_again(fresh_engine: Engine) -> None:
    upgrade_to_head(fresh_engine)
    assert _tables(fresh_engine) == _TABLES
    assert _revision(fresh_engine) == _head(fresh_engine)

    with fresh_engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert _tables(fresh_engine) == {"alembic_version"}
    assert _revision(fresh_engine) is None

    upgrade_to_head(fresh_engine)
    assert _tables(fresh_engine) == _TABLES
    assert _differences_from_the_models(fresh_engine) == []


def test_the_migrated_schema_matches_the_models(fresh_engine: Engine) -> None:
    upgrade_to_head(fresh_engine)

    assert _differences_from_the_models(fresh_engine) == []
    indexes = {index["name"] for index in inspect(fresh_engine).get_indexes("evaluations")}
    assert {"ix_evaluations_created_at_id", "ix_evaluations_status"} <= indexes


def test_services_starting_together_migrate_once(fresh_database_url: str) -> None:
    starters = 3
    engines = [create_database_engine(fresh_database_url) for _ in range(starters)]
    start = threading.Barrier(starters)
    errors: list[BaseException] = []

    def start_up(engine: Engine) -> None:
        start.wait()
        try:
            upgrade_to_head(engine)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start_up, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert _tables(engines[0]) == _TABLES
    assert _revision(engines[0]) == _head(engines[0])
    for engine in engines:
        engine.dispose()


def _run_the_migrate_command(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    (script,) = entry_points(group="console_scripts", name="crucible-storage-migrate")
    assert script.value == "crucible_storage.migrate:main"
    monkeypatch.setenv("CRUCIBLE_DATABASE_URL", database_url)
    script.load()()


def test_the_migrate_command_upgrades_to_head(
    fresh_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run_the_migrate_command(monkeypatch, fresh_database_url)

    engine = create_database_engine(fresh_database_url)
    try:
        assert _tables(engine) == _TABLES
        assert _revision(engine) == _head(engine)
    finally:
        engine.dispose()


def test_the_embedded_database_gets_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "not" / "yet" / "crucible.db"

    _run_the_migrate_command(monkeypatch, f"sqlite:///{database}")

    assert database.is_file()


def test_rows_from_before_the_hashes_get_them_on_upgrade(fresh_engine: Engine) -> None:
    with fresh_engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
        connection.execute(
            text(
                "INSERT INTO evaluations (id, status, language, priority, image, timeout_seconds,"
                " memory_mb, attempts, code, stdin, stdout, stderr, stdout_truncated,"
                " stderr_truncated, created_at, queued_at, updated_at) VALUES ("
                " '00000000-0000-4000-8000-000000000001', 'completed', 'python', 'normal',"
                " 'python', 5, 128, 1, :code, :empty, :stdout, :empty, false, false,"
                " :now, :now, :now)"
            ),
            {
                "code": "print('é')".encode(),
                "empty": b"",
                "stdout": "é\n".encode(),
                "now": datetime(2026, 1, 1, tzinfo=UTC),
            },
        )

    upgrade_to_head(fresh_engine)

    with fresh_engine.connect() as connection:
        row = connection.execute(
            text("SELECT code_sha256, stdout_bytes, stdout_preview, deleted_at FROM evaluations")
        ).one()
    assert tuple(row) == (hashlib.sha256("print('é')".encode()).hexdigest(), 3, False, None)
