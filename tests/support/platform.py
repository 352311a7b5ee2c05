"""The whole platform as local processes, started by the real ./start-platform.sh."""

import os
import signal
import subprocess
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
START_PLATFORM = REPO / "start-platform.sh"
# What ./start-platform.sh starts in local mode, in its order.
SERVICES = [
    "redis",
    "storage-service",
    "executor-service",
    "celery-worker",
    "flower",
    "api-service",
    "nginx",
]

# The tests burst far above the front door's production rate limits; the ones
# about those limits set their own.
GENEROUS_LIMITS = {
    "CRUCIBLE_RATE_GENERAL": "100000r/s",
    "CRUCIBLE_RATE_GENERAL_BURST": "100000",
    "CRUCIBLE_RATE_API": "100000r/s",
    "CRUCIBLE_RATE_API_BURST": "100000",
    "CRUCIBLE_RATE_FOLLOW": "100000r/s",
    "CRUCIBLE_RATE_FOLLOW_BURST": "100000",
    "CRUCIBLE_RATE_SUBMIT": "100000r/s",
    "CRUCIBLE_RATE_SUBMIT_BURST": "100000",
    "CRUCIBLE_CONN_LIMIT": "10000",
}


@dataclass
class Platform:
    state_dir: Path
    env: dict[str, str]
    port: int
    # Through the front door (nginx), as a client of the platform would.
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(
            base_url=self.front_door_url, timeout=30, auth=_AdminKey(self.credentials)
        )

    @property
    def credentials(self) -> Path:
        """Where the first start keeps the admin key it made."""
        return self.state_dir / "credentials"

    @property
    def admin_key(self) -> str:
        return read_admin_key(self.credentials)

    def new_key(self, role: str, name: str, *options: str) -> str:
        """A new API key, made with `./start-platform.sh keys create`."""
        made = self.script("keys", "create", "--role", role, "--name", name, "--quiet", *options)
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()

    @property
    def front_door_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.env['CRUCIBLE_TLS_PORT']}"

    @property
    def api_url(self) -> str:
        """The API itself, behind the front door: only the platform's own parts call it."""
        return f"http://127.0.0.1:{self.env['CRUCIBLE_API_PORT']}"

    @property
    def certificate(self) -> Path:
        """The self-signed certificate made at the first start."""
        return self.state_dir / "tls" / "selfsigned.crt"

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
        return self._wait_for(evaluation_id, {"completed", "failed", "cancelled"}, timeout)

    def run(self, **body: Any) -> dict[str, Any]:
        return self.wait_terminal(self.submit(**body)["id"])

    def wait_status(self, evaluation_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        return self._wait_for(evaluation_id, {status}, timeout)

    def _wait_for(self, evaluation_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            evaluation: dict[str, Any] = self.client.get(f"/api/evaluations/{evaluation_id}").json()
            if evaluation["status"] in statuses:
                return evaluation
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"evaluation {evaluation_id} not {' or '.join(sorted(statuses))} "
                    f"after {timeout} s: {evaluation}"
                )
            time.sleep(0.05)

    def kill(self, service: str) -> None:
        """kill -9 of the service's whole process group, as a crash would."""
        pid = self.pid(service)
        os.killpg(pid, signal.SIGKILL)
        while process_alive(pid):
            time.sleep(0.02)

    def log(self, service: str) -> str:
        return (self.state_dir / "logs" / f"{service}.log").read_text(errors="replace")


def read_admin_key(credentials: Path) -> str:
    for line in credentials.read_text().splitlines():
        if line.startswith("CRUCIBLE_API_KEY="):
            return line.split("=", 1)[1]
    raise LookupError(f"no CRUCIBLE_API_KEY in {credentials}")


class _AdminKey(httpx.Auth):
    """Signs requests with the admin key, once the first start has made it."""

    def __init__(self, credentials: Path) -> None:
        self._credentials = credentials

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if "authorization" not in request.headers and self._credentials.exists():
            request.headers["Authorization"] = f"Bearer {read_admin_key(self._credentials)}"
        yield request


def process_alive(pid: int) -> bool:
    # A zombie counts as gone: not every init reaps the orphans it inherits.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextmanager
def local_platform(
    state_dir: Path,
    database_url: str | None = None,
    *,
    start_args: Sequence[str] = (),
    generous_limits: bool = True,
    **settings: str,
) -> Iterator[Platform]:
    """`settings` are more environment variables, e.g. CRUCIBLE_EXECUTOR_CAPACITY="1";
    `start_args` more arguments of `start`, e.g. ["--prod"] (HTTPS only, a real
    certificate needed); `generous_limits` false keeps the front door's own."""
    env = platform_env(state_dir, database_url, generous_limits=generous_limits, **settings)
    platform = Platform(state_dir, env, int(env["CRUCIBLE_PORT"]))
    started = platform.script("start", "--local", *start_args)
    try:
        assert started.returncode == 0, (
            f"{started.stdout}\n{started.stderr}\n{_log_tails(state_dir / 'logs')}"
        )
        yield platform
    finally:
        platform.client.close()
        platform.script("stop")


def _log_tails(logs: Path, lines: int = 20) -> str:
    """The end of every service's log: a state directory that is temporary
    (the benchmark's) takes them with it once the start has failed."""
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        for log in sorted(logs.glob("*.log"))
    )


def platform_env(
    state_dir: Path,
    database_url: str | None = None,
    *,
    generous_limits: bool = True,
    **settings: str,
) -> dict[str, str]:
    """The environment ./start-platform.sh gets: free ports, the state directory."""
    env = {
        **os.environ,
        **(GENEROUS_LIMITS if generous_limits else {}),
        **settings,
        "CRUCIBLE_STATE_DIR": str(state_dir),
        "CRUCIBLE_PORT": str(free_port()),
        "CRUCIBLE_TLS_PORT": str(free_port()),
        "CRUCIBLE_API_PORT": str(free_port()),
        "CRUCIBLE_STORAGE_PORT": str(free_port()),
        "CRUCIBLE_EXECUTOR_PORT": str(free_port()),
        "CRUCIBLE_REDIS_PORT": str(free_port()),
        "CRUCIBLE_FLOWER_PORT": str(free_port()),
        "CRUCIBLE_WORKER_METRICS_PORT": str(free_port()),
    }
    if database_url:
        env["CRUCIBLE_DATABASE_URL"] = database_url
    return env
