"""The storage suite is a contract every backend must keep: `client` is
parametrized by all of them (the `database` backend on SQLite and on
PostgreSQL, `file`, `s3` on moto's S3 server, `memory`), always with a
private Redis as the read cache.

A test module shares one database per kind (creating a PostgreSQL database
takes a fifth of a second), emptied before each test; the other backends
start afresh for each test. Tests of the database itself take `engine` (or
`emptied_engine`), parametrized by SQLite and PostgreSQL, or
`fresh_database_url` for a database of their own.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete

from crucible_shared.settings import StorageSettings
from crucible_storage.app import create_app
from crucible_storage.db.engine import create_database_engine
from crucible_storage.db.models import BatchRow, DeadLetterRow, EvaluationRow, EventRow
from crucible_storage.migrate import upgrade_to_head
from tests.support.servers import PostgresServer, RedisServer, S3Server, s3_server

DATABASES = ["sqlite", "postgresql"]
BACKENDS = [*DATABASES, "file", "s3", "memory"]


def new_database(kind: str, request: pytest.FixtureRequest, directory: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{directory / 'crucible.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.create_database(f"storage_{uuid4().hex}")


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database for the test module."""
    return new_database(request.param, request, tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(params=DATABASES)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for the test alone."""
    return new_database(request.param, request, tmp_path)


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in (DeadLetterRow, EventRow, EvaluationRow, BatchRow):
            connection.execute(delete(table))


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the module's database, migrated to head."""
    engine = create_database_engine(database_url)
    upgrade_to_head(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def emptied_engine(engine: Engine) -> Engine:
    """The module's engine, on emptied tables."""
    _empty(engine)
    return engine


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    saved = dict(os.environ)
    with s3_server() as server:
        os.environ.update(server.environment())
        yield server
    os.environ.clear()
    os.environ.update(saved)


def settings_for(
    backend: str, request: pytest.FixtureRequest, directory: Path, **overrides: Any
) -> StorageSettings:
    """A storage service on `backend`, with the test session's private servers."""
    redis: RedisServer = request.getfixturevalue("redis")
    fields: dict[str, Any] = {"data_dir": directory / "data", "cache_redis_url": redis.url}
    if backend in DATABASES:
        fields["database_url"] = new_database(backend, request, directory)
    elif backend == "s3":
        s3: S3Server = request.getfixturevalue("s3")
        fields.update(s3_endpoint_url=s3.endpoint_url, s3_bucket=f"t-{uuid4().hex}")
    if backend not in DATABASES:
        fields["storage_backend"] = backend
    return StorageSettings(**{**fields, **overrides})


class _DatabaseApps:
    """A started app per database kind, made when a test module first asks."""

    def __init__(self, request: pytest.FixtureRequest, directory: Path) -> None:
        self._request = request
        self._directory = directory
        self._apps: dict[str, tuple[TestClient, Engine, Path]] = {}
        self.resources = ExitStack()

    def emptied(self, kind: str) -> TestClient:
        if kind not in self._apps:
            settings = settings_for(kind, self._request, self._directory / kind)
            client = self.resources.enter_context(TestClient(create_app(settings)))
            engine = create_database_engine(settings.database_url)
            self.resources.callback(engine.dispose)
            self._apps[kind] = (client, engine, settings.data_dir)
        client, engine, data_dir = self._apps[kind]
        _empty(engine)
        shutil.rmtree(data_dir / "outputs", ignore_errors=True)
        return client


@pytest.fixture(scope="module")
def database_apps(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_DatabaseApps]:
    apps = _DatabaseApps(request, tmp_path_factory.mktemp("apps"))
    with apps.resources:
        yield apps


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The real app on `backend`, started, holding no evaluations."""
    if backend in DATABASES:
        yield request.getfixturevalue("database_apps").emptied(backend)
        return
    with TestClient(create_app(settings_for(backend, request, tmp_path))) as started:
        yield started


@pytest.fixture(scope="module")
def running_app(
    database_url: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = settings_for(
        "sqlite", request, tmp_path_factory.mktemp("app"), database_url=database_url
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def database_client(running_app: TestClient, emptied_engine: Engine) -> TestClient:
    """The real app on the module's database (that `engine` reaches), emptied;
    for tests that arrange rows no API call can make."""
    return running_app
