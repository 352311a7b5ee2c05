"""Helpers for the executor's tests: running a program, finding processes, a real server."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult
from crucible_shared.settings import ExecutorSettings
from tests.support.ports import free_port, wait_for_port

# The uid an executor's first slot runs its sandboxes as.
SLOT_UID = ExecutorSettings().sandbox_uid_base


def run_program(backend: SandboxBackend, code: str, **fields: object) -> ExecutionResult:
    """Run `code` to its end; checks that the backend announced the start exactly once."""
    return asyncio.run(run_program_async(backend, code, **fields))


async def run_program_async(
    backend: SandboxBackend, code: str, **fields: object
) -> ExecutionResult:
    starts = 0

    async def on_started() -> None:
        nonlocal starts
        starts += 1

    request = ExecutionRequest.model_validate({"evaluation_id": "test", "code": code, **fields})
    result = await backend.run(request, on_started, uid=SLOT_UID)
    assert starts == 1
    return result


def processes_with(marker: str) -> list[int]:
    """Pids of the host's processes whose command line contains `marker`.

    A sandboxed process is still a host process, whatever namespaces it is in,
    so this sees into every backend that runs on this machine.
    """
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds it took `condition` to hold; fails the test if it never did."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition never held"
        time.sleep(0.05)
    return time.monotonic() - started


def spawn_marked_child(marker: str) -> str:
    """Code for a program that leaves a child sleeping, findable by `marker`, then sleeps."""
    return (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])\n"
        "print('spawned', flush=True)\n"
        "time.sleep(600)\n"
    )


@dataclass
class ExecutorServer:
    url: str
    executor_id: str
    pid: int


@contextmanager
def executor_server(
    log_path: Path, *, pass_fds: tuple[int, ...] = (), **settings: str
) -> Iterator[ExecutorServer]:
    """The executor under uvicorn, configured through CRUCIBLE_* variables, as in production.

    `pass_fds` stay open in it, as a supervisor's descriptors would.
    """
    port = free_port()
    env = os.environ | {f"CRUCIBLE_{name.upper()}": value for name, value in settings.items()}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "crucible_executor.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
        )
        try:
            wait_for_port(port)
            yield ExecutorServer(
                url=f"http://127.0.0.1:{port}", executor_id=settings["executor_id"], pid=process.pid
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
