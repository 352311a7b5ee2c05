"""Crucible over three hosts (tests/support/hosts.py), as it would run over three machines.

    host1 198.18.0.1   Redis (broker, pool, cache), storage, the API
    host2 198.18.0.2   a Celery worker, an executor (process backend)
    host3 198.18.0.3   a Celery worker, an executor (process backend)

Every service reaches another by its host's address; executors register the address
workers reach them at. PostgreSQL is host1's only by its Unix socket (storage alone uses
it, and no other host can reach a socket). The test reaches the API through a Unix
socket too, so that nothing is added to the machine's own network namespace.
"""

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.hosts import Host, hosts
from tests.support.servers import PostgresServer

BIN = Path(sys.executable).parent
# Short leases and beats, so that a lost host's work moves within a test.
RECOVERY = {
    "CRUCIBLE_LEASE_TTL_SECONDS": "3",
    "CRUCIBLE_EXECUTOR_HEARTBEAT_TTL_SECONDS": "3",
    "CRUCIBLE_WORKER_HEARTBEAT_TTL_SECONDS": "4",
    "CRUCIBLE_REAPER_INTERVAL_SECONDS": "0.5",
    "CRUCIBLE_RETRY_BACKOFF_SECONDS": "0.5",
    "CRUCIBLE_REQUEUE_UNQUEUED_AFTER_SECONDS": "5",
    "CRUCIBLE_EXECUTOR_CONNECT_TIMEOUT_SECONDS": "2",
    "CRUCIBLE_STORAGE_TIMEOUT_SECONDS": "3",
}
EXECUTOR_PORT = 8002


def _available() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None or shutil.which("bwrap") is None:
        return "needs iproute2 and bubblewrap"
    return None


@dataclass
class Cluster:
    hosts: list[Host]
    client: httpx.Client
    logs: Path

    @property
    def executor_hosts(self) -> list[Host]:
        return self.hosts[1:]

    def submit(self, code: str) -> str:
        response = self.client.post("/api/evaluations", json={"code": code, "timeout_seconds": 60})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def evaluation(self, evaluation_id: str) -> dict[str, Any]:
        response = self.client.get(f"/api/evaluations/{evaluation_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def live_executors(self) -> set[str]:
        response = self.client.get("/api/queue")
        if response.status_code != 200:
            return set()
        return {e["id"] for e in response.json()["executors"] if e["alive"]}

    def runs_ended(self, host: Host, result: str = "success") -> float:
        """The executor's own count of runs that ended so (its Prometheus counter),
        read on its host."""
        url = f"http://{host.address}:{EXECUTOR_PORT}/metrics"
        text = _python_on(host, _FETCH, url).stdout
        for line in text.splitlines():
            if line.startswith(f'crucible_executor_runs_total{{result="{result}"}}'):
                return float(line.split()[-1])
        return 0.0

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(
            f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
            for log in sorted(self.logs.glob("*.log"))
        )


def executor_id(host: Host) -> str:
    return f"executor-{host.netns.rsplit('-', 1)[1]}"


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


def _python_on(host: Host, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs a Python snippet on `host`: how the test looks at what only the hosts reach."""
    argv = ["ip", "netns", "exec", host.netns, str(BIN / "python"), "-c", script, *args]
    return subprocess.run(argv, capture_output=True, text=True)


_FETCH = (
    "import sys, urllib.request\n"
    "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
)
_CONNECT = (
    "import socket, sys\nsocket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)"
)


def _listening(host: Host, port: int) -> bool:
    return _python_on(host, _CONNECT, host.address, str(port)).returncode == 0


def _uvicorn(factory: str, *bind: str) -> list[str]:
    return [str(BIN / "python"), "-m", "uvicorn", factory, "--factory", *bind, "--no-access-log"]


@pytest.fixture
def cluster(postgres: PostgresServer, tmp_path: Path) -> Iterator[Cluster]:
    reason = _available()
    if reason:
        pytest.skip(reason)
    logs = tmp_path / "logs"
    logs.mkdir()
    database = postgres.create_database(f"crucible_multihost_{uuid.uuid4().hex[:8]}")
    # The same database by its Unix socket: reachable from host1's namespace, and
    # from no host's network.
    name = database.rsplit("/", 1)[1]
    socket_dir = postgres.data_dir.parent
    database_url = f"postgresql+psycopg://postgres@/{name}?host={socket_dir}&port={postgres.port}"
    with hosts(3) as machines:
        host1 = machines[0]
        redis = f"redis://{host1.address}:6379"
        common = {
            **os.environ,
            **RECOVERY,
            "CRUCIBLE_SERVICE_TOKEN": uuid.uuid4().hex,
            "CRUCIBLE_BROKER_URL": f"{redis}/0",
            "CRUCIBLE_POOL_REDIS_URL": f"{redis}/1",
            "CRUCIBLE_CACHE_REDIS_URL": f"{redis}/2",
            "CRUCIBLE_STORAGE_URL": f"http://{host1.address}:8001",
        }
        host1.popen(
            [
                "redis-server",
                "--bind",
                host1.address,
                "--port",
                "6379",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ],
            common,
            logs / "redis.log",
        )
        _wait(lambda: _listening(host1, 6379), 20, "redis on host1")
        host1.popen(
            _uvicorn("crucible_storage.app:create_app", "--host", host1.address, "--port", "8001"),
            {
                **common,
                "CRUCIBLE_DATABASE_URL": database_url,
                "CRUCIBLE_DATA_DIR": str(tmp_path / "blobs"),
            },
            logs / "storage.log",
        )
        api_socket = tmp_path / "api.sock"
        host1.popen(
            _uvicorn("crucible_api.app:create_app", "--uds", str(api_socket)),
            common,
            logs / "api.log",
        )
        for host in machines[1:]:
            host.popen(
                _uvicorn(
                    "crucible_executor.app:create_app",
                    "--host",
                    host.address,
                    "--port",
                    str(EXECUTOR_PORT),
                ),
                {
                    **common,
                    "CRUCIBLE_EXECUTOR_URL": f"http://{host.address}:{EXECUTOR_PORT}",
                    "CRUCIBLE_EXECUTOR_ID": executor_id(host),
                    "CRUCIBLE_EXECUTOR_BACKEND": "process",
                    "CRUCIBLE_EXECUTOR_CAPACITY": "2",
                },
                logs / f"{executor_id(host)}.log",
            )
            host.popen(
                [
                    str(BIN / "celery"),
                    "-A",
                    "crucible_worker.celery_app.app",
                    "worker",
                    "--queues",
                    "high,normal,low",
                    "--concurrency",
                    "2",
                    "--pool",
                    "prefork",
                    "--hostname",
                    f"worker@{host.address}",
                    "--loglevel",
                    "INFO",
                ],
                {**common, "CRUCIBLE_WORKER_METRICS_PORT": "0"},
                logs / f"worker-{host.address}.log",
            )
        transport = httpx.HTTPTransport(uds=str(api_socket))
        _wait(lambda: _listening(host1, 8001), 120, "storage on host1")
        _wait(api_socket.exists, 120, "the API's socket")
        key = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                host1.netns,
                str(BIN / "crucible-admin"),
                "keys",
                "create",
                "--role",
                "admin",
                "--name",
                "multihost",
                "--quiet",
            ],
            env=common,
            capture_output=True,
            text=True,
        )
        with httpx.Client(
            transport=transport,
            base_url="http://host1",
            headers={"Authorization": f"Bearer {key.stdout.strip()}"},
            timeout=10,
        ) as client:
            cluster = Cluster(machines, client, logs)
            assert key.returncode == 0, f"{key.stderr}\n{cluster.log_tails()}"
            expected = {executor_id(h) for h in machines[1:]}
            _wait(
                lambda: cluster.live_executors() == expected,
                60,
                f"executors in the pool\n{cluster.log_tails()}",
            )
            yield cluster
