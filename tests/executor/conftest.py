import uuid
from collections.abc import Iterator

import pytest
from crucible_executor.sandbox.backends import open_backend
from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.settings import ExecutorSettings

# Small, so that flooding it is quick; the suite's cases stay well under it.
OUTPUT_LIMIT_BYTES = 64 * 1024


def unique_executor_id() -> str:
    # Executors sweep what their id left behind: tests must never share one with
    # each other, or with a real executor on this machine.
    return f"tests-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["process"])
def backend(request: pytest.FixtureRequest) -> Iterator[SandboxBackend]:
    settings = ExecutorSettings(
        executor_backend=request.param,
        executor_id=unique_executor_id(),
        output_limit_bytes=OUTPUT_LIMIT_BYTES,
    )
    with open_backend(settings) as opened:
        yield opened
