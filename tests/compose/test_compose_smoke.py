"""docker-compose.yml, whole: every service up and healthy, an evaluation through the front
door (the nginx service, the only one with published ports), and everything gone after,
volumes included.

Runs `./start-platform.sh --compose` as a user would, against the engine
scripts/container-engine.sh provides (here: Podman, with Debian's docker-compose
1.29 and deploy/debian-images/ standing in for the images no registry gives us).
"""

import json
import os
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.platform import read_admin_key
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
START_PLATFORM = REPO / "start-platform.sh"
ENGINE = REPO / "scripts" / "container-engine.sh"
SERVICES = {
    "nginx",
    "api",
    "storage",
    "migrate",
    "celery-worker",
    "beat",
    "flower",
    "executor-1",
    "executor-2",
    "executor-3",
    "docker-proxy",
    "broker-redis",
    "pool-redis",
    "postgres",
}


def _docker_api(host: str, path: str) -> Any:
    assert host.startswith("unix://"), host
    with httpx.Client(transport=httpx.HTTPTransport(uds=host.removeprefix("unix://"))) as http:
        return http.get(f"http://engine{path}", timeout=30).json()


def _project_filter(project: str) -> str:
    return json.dumps({"label": [f"com.docker.compose.project={project}"]})


class Stack:
    def __init__(self, state_dir: Path) -> None:
        self.project = f"crucible-smoke-{uuid.uuid4().hex[:8]}"
        self.state_dir = state_dir
        self.port = free_port()
        self.tls_port = free_port()
        self.env = {
            **os.environ,
            "CRUCIBLE_STATE_DIR": str(state_dir),
            "CRUCIBLE_PORT": str(self.port),
            "CRUCIBLE_TLS_PORT": str(self.tls_port),
            "CRUCIBLE_COMPOSE_PROJECT": self.project,
            "CRUCIBLE_READY_TIMEOUT": "240",
        }
        self.host = ""

    def script(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(START_PLATFORM), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def containers(self) -> list[dict[str, Any]]:
        query = f"/containers/json?all=1&filters={_project_filter(self.project)}"
        containers: list[dict[str, Any]] = _docker_api(self.host, query)
        return containers

    def volumes(self) -> list[dict[str, Any]]:
        answer = _docker_api(self.host, f"/volumes?filters={_project_filter(self.project)}")
        volumes: list[dict[str, Any]] = answer.get("Volumes") or []
        return volumes


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("compose"))
    started = time.monotonic()
    up = stack.script("start", "--compose")
    print(f"compose stack up in {time.monotonic() - started:.0f} s")
    engine = subprocess.run([str(ENGINE), "host"], capture_output=True, text=True, timeout=30)
    stack.host = engine.stdout.strip()
    try:
        assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"
        yield stack
    finally:
        down = stack.script("stop", "--volumes", timeout=300)
        assert down.returncode == 0, f"{down.stdout}\n{down.stderr}"


@pytest.mark.timeout(1200)
def test_the_stack_comes_up_runs_an_evaluation_and_goes_away_whole(stack: Stack) -> None:
    by_service = {c["Labels"]["com.docker.compose.service"]: c for c in stack.containers()}
    assert set(by_service) == SERVICES
    for name, container in by_service.items():
        if name == "migrate":
            assert container["State"] == "exited" and "Exited (0)" in container["Status"]
        else:
            assert container["State"] == "running", (name, container["Status"])
    # Nothing but the proxy has the engine's socket.
    socket_holders = {
        name
        for name, c in by_service.items()
        for mount in c.get("Mounts") or []
        if mount.get("Destination") == "/var/run/docker.sock"
    }
    assert socket_holders == {"docker-proxy"}
    # Nothing but the front door can be reached from outside.
    publishing = {
        name
        for name, c in by_service.items()
        if any(port.get("PublicPort") for port in c.get("Ports") or [])
    }
    assert publishing == {"nginx"}

    admin = {"Authorization": f"Bearer {read_admin_key(stack.state_dir / 'credentials')}"}
    with httpx.Client(
        base_url=f"http://127.0.0.1:{stack.port}", timeout=30, headers=admin
    ) as front_door:
        submitted = front_door.post(
            "/api/evaluations",
            json={"code": "import sys; print(sys.stdin.read()[::-1])", "stdin": "olleh"},
        )
        assert submitted.status_code == 202, submitted.text
        evaluation_id = submitted.json()["id"]
        deadline = time.monotonic() + 120
        while (found := front_door.get(f"/api/evaluations/{evaluation_id}").json())[
            "status"
        ] not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, found
            time.sleep(0.2)

    assert found["status"] == "completed", found
    assert found["outcome"] == "success"
    assert found["stdout"] == "hello\n"
    assert found["executor"] in {"executor-1", "executor-2", "executor-3"}
    assert found["image_digest"].startswith("sha256:")

    # The same front door over HTTPS, with the self-signed certificate made for the stack.
    certificate = stack.state_dir / "tls" / "selfsigned.crt"
    trusting = ssl.create_default_context(cafile=certificate)
    with httpx.Client(
        base_url=f"https://127.0.0.1:{stack.tls_port}", verify=trusting, headers=admin
    ) as https:
        queue = https.get("/api/queue")
        web_app = https.get("/", follow_redirects=True)
    assert queue.status_code == 200 and queue.json()["slots_total"] > 0
    assert queue.headers["strict-transport-security"].startswith("max-age=")
    assert web_app.url.path == "/researcher/" and web_app.status_code == 200
    assert web_app.headers["content-type"].startswith("text/html")

    # The sandbox container is gone too: only the stack's own remain.
    sandboxes = _docker_api(
        stack.host,
        "/containers/json?all=1&filters=" + json.dumps({"label": ["crucible.executor"]}),
    )
    # A used sandbox is named for its evaluation (idle warm ones have none yet).
    named = [c for c in sandboxes if any(evaluation_id in name for name in c["Names"])]
    assert named == []

    down = stack.script("stop", "--volumes", timeout=300)

    assert down.returncode == 0, f"{down.stdout}\n{down.stderr}"
    assert stack.containers() == []
    assert stack.volumes() == []
