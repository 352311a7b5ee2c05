"""The sandbox backends, one module each, and the choice between them."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import assert_never

from crucible_executor.sandbox.backends.docker import DockerBackend
from crucible_executor.sandbox.backends.process import ProcessBackend
from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.settings import ExecutorSettings


@contextmanager
def open_backend(settings: ExecutorSettings) -> Iterator[SandboxBackend]:
    """The configured backend, rid of what a previous life of this executor left behind."""
    backend: ProcessBackend | DockerBackend
    match settings.executor_backend:
        case "process":
            backend = ProcessBackend(settings)
        case "docker":
            backend = DockerBackend(settings)
        case unknown:
            # A backend named in the settings but not wired here fails type-checking.
            assert_never(unknown)
    backend.sweep()
    try:
        yield backend
    finally:
        backend.close()
