import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crucible_executor.sandbox.backends import open_backend
from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.settings import ExecutorSettings

CONTAINER_ENGINE = Path(__file__).resolve().parents[2] / "scripts" / "container-engine.sh"
# Small, so that flooding it is quick; the suite's cases stay well under it.
OUTPUT_LIMIT_BYTES = 64 * 1024


def unique_executor_id() -> str:
    # Executors sweep what their id left behind: tests must never share one with
    # each other, or with a real executor on this machine.
    return f"tests-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def docker_host() -> str:
    """A Docker Engine API with the sandbox images, as `DOCKER_HOST` for the docker backend.

    The project's script finds one (Docker, or Podman that it installs and
    starts when it may) and builds the images that are missing.
    """
    done = subprocess.run(
        [str(CONTAINER_ENGINE), "executor-images"], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"no container engine for the docker backend:\n{done.stderr}"
    host = done.stdout.strip().splitlines()[-1]
    os.environ["DOCKER_HOST"] = host
    return host


@pytest.fixture(params=["process", "docker"])
def backend(request: pytest.FixtureRequest) -> Iterator[SandboxBackend]:
    if request.param == "docker":
        request.getfixturevalue("docker_host")
    settings = ExecutorSettings(
        executor_backend=request.param,
        executor_id=unique_executor_id(),
        output_limit_bytes=OUTPUT_LIMIT_BYTES,
    )
    with open_backend(settings) as opened:
        yield opened
