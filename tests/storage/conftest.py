"""The storage suite runs on SQLite and on PostgreSQL: every fixture here is parametrized by both.

A test module shares one database per kind (creating a PostgreSQL database
takes a fifth of a second); `client` and `emptied_engine` empty it before
each test. Tests of
the migrations themselves take `fresh_database_url`, new for each test.
"""

from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from crucible_shared.settings import StorageSettings
from crucible_storage.app import create_app
from crucible_storage.db.engine import create_database_engine
from crucible_storage.db.models import DeadLetterRow, EvaluationRow, EventRow
from crucible_storage.migrate import upgrade_to_head
from tests.support.servers import PostgresServer

_KINDS = ["sqlite", "postgresql"]


def _new_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'crucible.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.create_database(f"storage_{uuid4().hex}")


@pytest.fixture(scope="module", params=_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database for the test module."""
    return _new_database(request, tmp_path_factory)


@pytest.fixture(params=_KINDS)
def fresh_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """An empty database for the test alone."""
    return _new_database(request, tmp_path_factory)


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the module's database, migrated to head."""
    engine = create_database_engine(database_url)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def running_app(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(StorageSettings(database_url=database_url))) as client:
        yield client


@pytest.fixture
def emptied_engine(engine: Engine) -> Engine:
    """The module's engine, on emptied tables."""
    with engine.begin() as connection:
        for table in (DeadLetterRow, EventRow, EvaluationRow):
            connection.execute(delete(table))
    return engine


@pytest.fixture
def client(running_app: TestClient, emptied_engine: Engine) -> TestClient:
    """The real app, started (so migrating its database) once per module, on emptied tables."""
    return running_app
