"""The whole platform as local processes, started by the real ./start-platform.sh."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
START_PLATFORM = REPO / "start-platform.sh"


@dataclass
class Platform:
    state_dir: Path
    env: dict[str, str]
    port: int
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)

    def script(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(START_PLATFORM), *args], env=self.env, capture_output=True, text=True, timeout=180
        )

    def pid(self, service: str) -> int:
        return int((self.state_dir / "run" / f"{service}.pid").read_text())

    def submit(self, **body: Any) -> dict[str, Any]:
        response = self.client.post("/api/evaluations", json=body)
        assert response.status_code == 202, response.text
        evaluation: dict[str, Any] = response.json()
        return evaluation

    def wait_terminal(self, evaluation_id: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evaluation: dict[str, Any] = self.client.get(f"/api/evaluations/{evaluation_id}").json()
            if evaluation["status"] in ("completed", "failed", "cancelled"):
                return evaluation
            time.sleep(0.05)
        raise TimeoutError(
            f"evaluation {evaluation_id} not finished after {timeout} s: {evaluation}"
        )

    def run(self, **body: Any) -> dict[str, Any]:
        return self.wait_terminal(self.submit(**body)["id"])

    def wait_status(self, evaluation_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evaluation: dict[str, Any] = self.client.get(f"/api/evaluations/{evaluation_id}").json()
            if evaluation["status"] == status:
                return evaluation
            time.sleep(0.05)
        raise TimeoutError(f"evaluation {evaluation_id} never {status}: {evaluation}")

    def kill(self, service: str) -> None:
        """kill -9 of the service's whole process group, as a crash would."""
        pid = self.pid(service)
        os.killpg(pid, signal.SIGKILL)
        while process_alive(pid):
            time.sleep(0.02)

    def log(self, service: str) -> str:
        return (self.state_dir / "logs" / f"{service}.log").read_text(errors="replace")


def process_alive(pid: int) -> bool:
    # A zombie counts as gone: not every init reaps the orphans it inherits.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def local_platform(
    state_dir: Path, database_url: str | None = None, **settings: str
) -> Iterator[Platform]:
    """`settings` are more environment variables, e.g. CRUCIBLE_EXECUTOR_CAPACITY="1"."""
    port = free_port()
    env = {
        **os.environ,
        **settings,
        "CRUCIBLE_STATE_DIR": str(state_dir),
        "CRUCIBLE_PORT": str(port),
        "CRUCIBLE_STORAGE_PORT": str(free_port()),
        "CRUCIBLE_EXECUTOR_PORT": str(free_port()),
        "CRUCIBLE_REDIS_PORT": str(free_port()),
        "CRUCIBLE_FLOWER_PORT": str(free_port()),
        "CRUCIBLE_WORKER_METRICS_PORT": str(free_port()),
    }
    if database_url:
        env["CRUCIBLE_DATABASE_URL"] = database_url
    platform = Platform(state_dir, env, port)
    started = platform.script("start", "--local")
    try:
        assert started.returncode == 0, f"{started.stdout}\n{started.stderr}"
        yield platform
    finally:
        platform.client.close()
        platform.script("stop")
