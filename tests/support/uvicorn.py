"""A service's app under uvicorn in a process of its own, configured as in production."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port


@contextmanager
def uvicorn_service(factory: str, log_path: Path, **environment: str) -> Iterator[str]:
    """Runs `factory` (e.g. "crucible_api.app:create_app"); yields its base URL."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", factory, "--factory"]
            + ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
            env={**os.environ, **environment},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_listening(process, port, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_until_listening(
    process: subprocess.Popen[bytes], port: int, log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            # A service that cannot start says why at once, not after the timeout.
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"{log_path.stem} exited with {process.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{log_path.stem} not listening on port {port} after {timeout} s")
