from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import Platform, local_platform
from tests.support.servers import PostgresServer


@pytest.fixture(scope="package")
def platform(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """The platform on PostgreSQL, shared by the tests that only submit and read."""
    database_url = postgres.create_database("crucible_e2e")
    with local_platform(tmp_path_factory.mktemp("platform"), database_url) as running:
        yield running


@pytest.fixture
def own_platform(tmp_path: Path) -> Iterator[Platform]:
    """A platform of the test's own (embedded SQLite), for tests that break things."""
    with local_platform(tmp_path / "state") as running:
        yield running
