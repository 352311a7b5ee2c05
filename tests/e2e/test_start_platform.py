"""./start-platform.sh: one start, no duplicates, restarts what died, stops what it started."""

import re
import subprocess

from tests.support.platform import Platform, process_alive

SERVICES = [
    "redis",
    "storage-service",
    "executor-service",
    "celery-worker",
    "flower",
    "api-service",
    "nginx",
]


def test_second_start_starts_no_duplicates(own_platform: Platform) -> None:
    before = {name: own_platform.pid(name) for name in SERVICES}

    again = own_platform.script("start", "--local")

    assert again.returncode == 0, again.stderr
    assert {name: own_platform.pid(name) for name in SERVICES} == before
    assert "already runs" in again.stdout


def test_a_dead_service_is_started_again(own_platform: Platform) -> None:
    worker = own_platform.pid("celery-worker")
    own_platform.kill("celery-worker")

    status = own_platform.script("status")
    assert re.search(r"celery-worker\s+stopped", status.stdout), status.stdout

    own_platform.script("start", "--local")

    assert own_platform.pid("celery-worker") != worker
    assert own_platform.run(code="print('back')")["stdout"] == "back\n"


def test_stop_stops_everything_it_started_and_nothing_else(own_platform: Platform) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    pids = [own_platform.pid(name) for name in SERVICES]

    own_platform.script("stop")

    try:
        assert not any(process_alive(pid) for pid in pids)
        assert not any((own_platform.state_dir / "run").iterdir())
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
