"""A real executor per sandbox backend, and what a hostile program must not leave behind."""

import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from crucible_executor.sandbox.backends.docker import EXECUTOR_LABEL, WARM_PREFIX
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import (
    ExecutionFinished,
    ExecutionResult,
    ExecutionStarted,
    execution_event_adapter,
)
from crucible_shared.settings import ExecutorSettings

# Imported so that pytest registers it here too: one fixture decides where the
# container engine is, for the executor's tests and for these.
from tests.executor.conftest import docker_host, unique_executor_id  # noqa: F401
from tests.executor.support import ExecutorServer, executor_server, processes_with
from tests.support.platform import process_alive
from tests.support.servers import RedisServer

# How long the docker backend may take to remove a container after its result.
_REMOVAL_SECONDS = 10


def new_marker() -> str:
    """A word no other process on this host has on its command line; always as long."""
    return f"crucible-hostile-{uuid.uuid4().hex}"


def tag(code: str, marker: str) -> str:
    """`code`, first re-executed with `marker` on its command line.

    Whatever the program forks keeps that command line, so the host's /proc
    finds every process of the run, in whichever namespaces it hides.
    """
    prelude = (
        "import os, sys\n"
        f"if sys.argv[1:] != [{marker!r}]:\n"
        f"    os.execv(sys.executable, [sys.executable, '-I', sys.argv[0], {marker!r}])\n"
    )
    return prelude + code


@dataclass
class HostileRun:
    result: ExecutionResult
    # Most of the run's processes seen at once on the host while it ran.
    processes_seen: int


@dataclass
class Target:
    """One running executor, reached over HTTP as a worker reaches it."""

    backend: str
    server: ExecutorServer
    secret: str
    engine: docker.DockerClient | None
    http: httpx.Client
    # A descriptor the executor was started with, open on a file holding `secret`.
    inherited_fd: int

    def run(self, code: str, **fields: Any) -> HostileRun:
        """Run `code` tagged with a marker; the marker's processes must be gone afterwards."""
        marker = new_marker()
        body = {"evaluation_id": marker, "code": tag(code, marker), **fields}
        with _watching(marker) as seen:
            events = self._execute(body)
        assert processes_with(marker) == [], "the run left processes behind on the host"
        started, finished = events
        assert isinstance(started, ExecutionStarted), events
        assert isinstance(finished, ExecutionFinished), events
        return HostileRun(finished.result, max(seen, default=0))

    def assert_unharmed(self) -> None:
        """Nothing of past runs left on the host, the executor alive, the next run normal."""
        assert process_alive(self.server.pid)
        assert self.leftovers() == []
        hello = self.run("print('hello')")
        assert hello.result.outcome == Outcome.SUCCESS
        assert hello.result.stdout == "hello\n"

    def leftovers(self) -> list[str]:
        """What this executor's past runs left on the host: cgroups, workspaces, containers."""
        executor_id = self.server.executor_id
        if self.engine is not None:
            engine = self.engine

            def used() -> list[str]:
                # Listed without inspecting each, which fails for one removed in between.
                containers = engine.api.containers(
                    all=True, filters={"label": f"{EXECUTOR_LABEL}={executor_id}"}
                )
                names = [container["Names"][0].lstrip("/") for container in containers]
                # Warm ones wait for programs to come, and have had none.
                return [name for name in names if not name.startswith(WARM_PREFIX)]

            # A used container is removed in the background, just after its result.
            deadline = time.monotonic() + _REMOVAL_SECONDS
            while (names := used()) and time.monotonic() < deadline:
                time.sleep(0.1)
            return names
        cgroup_root = ExecutorSettings().cgroup_root
        groups = [
            str(group)
            for controller in ("memory", "pids", "cpu")
            if (parent := cgroup_root / controller / "crucible" / executor_id).is_dir()
            for group in parent.iterdir()
            if group.is_dir()
        ]
        workspaces = Path(tempfile.gettempdir()).glob(f"crucible-run+{executor_id}+*")
        return groups + [str(path) for path in workspaces]

    def _execute(self, body: dict[str, Any]) -> list[Any]:
        with self.http.stream("POST", f"{self.server.url}/execute", json=body) as response:
            assert response.status_code == 200, response.read()
            return [
                execution_event_adapter.validate_json(line)
                for line in response.iter_lines()
                if line
            ]


@contextmanager
def _watching(marker: str) -> Iterator[list[int]]:
    """Counts the marker's processes on the host, in a thread, while the body runs."""
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(len(processes_with(marker)))
            done.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()


@pytest.fixture(scope="package", params=["process", "docker"])
def executor(
    request: pytest.FixtureRequest,
    redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    """One executor per backend, shared by every attack: each must leave it as it found it."""
    engine = None
    if request.param == "docker":
        host = request.getfixturevalue("docker_host")
        engine = docker.DockerClient(base_url=host, version="1.41")
    secret = f"secret-{uuid.uuid4().hex}"
    directory = tmp_path_factory.mktemp(f"executor-{request.param}")
    log = directory / "uvicorn.log"
    secret_file = directory / "inherited"
    secret_file.write_text(secret)
    secret_file.chmod(0o644)
    inherited = os.open(secret_file, os.O_RDONLY)
    try:
        with (
            executor_server(
                log,
                pass_fds=(inherited,),
                executor_id=unique_executor_id(),
                executor_backend=request.param,
                executor_capacity="2",
                # A pool of its own: a platform running on this machine must not
                # send its evaluations here.
                pool_redis_url=redis.url,
                # In the executor's environment, where a program must not find it.
                hostile_test_secret=secret,
            ) as server,
            httpx.Client(timeout=120) as http,
        ):
            yield Target(request.param, server, secret, engine, http, inherited)
    finally:
        os.close(inherited)
        if engine is not None:
            engine.close()
