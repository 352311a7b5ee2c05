from collections.abc import Iterator

import httpx
import pytest

from tests.executor.conftest import unique_executor_id
from tests.executor.support import ExecutorServer, executor_server


@pytest.fixture(scope="session")
def executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorServer]:
    """A real executor with one slot, so that one evaluation in flight fills it."""
    log = tmp_path_factory.mktemp("executor") / "uvicorn.log"
    with executor_server(log, executor_id=unique_executor_id(), executor_capacity="1") as server:
        yield server


@pytest.fixture(scope="session")
def broken_executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExecutorServer]:
    """An executor whose sandbox cannot work: its interpreter does not exist."""
    log = tmp_path_factory.mktemp("broken-executor") / "uvicorn.log"
    with executor_server(
        log,
        executor_id=unique_executor_id(),
        executor_capacity="1",
        sandbox_python="/usr/bin/no-such-python",
    ) as server:
        yield server


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30) as client:
        yield client
