import re
from collections.abc import Iterator

import pytest

from tests.support.platform import Platform, local_platform


@pytest.fixture(scope="package")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A real platform (embedded SQLite) that the client's tests talk to through its front door."""
    with local_platform(tmp_path_factory.mktemp("client-platform")) as running:
        yield running


@pytest.fixture
def researcher_key(platform: Platform, request: pytest.FixtureRequest) -> str:
    """A key of the test's own, so that one test's quota is not another's."""
    name = re.sub(r"[^A-Za-z0-9_.@-]", "_", request.node.name)[:60]
    return platform.new_key(
        "researcher", name, "--max-running", "50", "--submissions-per-minute", "10000"
    )
