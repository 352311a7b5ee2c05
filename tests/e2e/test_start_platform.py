"""./start-platform.sh: one start, no duplicates, restarts what died, stops what it started."""

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.platform import (
    SERVICES,
    START_PLATFORM,
    Platform,
    platform_env,
    process_alive,
)


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


def test_only_the_worker_gets_the_metrics_directory(own_platform: Platform) -> None:
    # The web app's build and the API imported the metrics under it before the
    # worker had made the folder.
    def environment(service: str) -> str:
        return Path(f"/proc/{own_platform.pid(service)}/environ").read_text()

    assert "PROMETHEUS_MULTIPROC_DIR=" in environment("celery-worker")
    assert "PROMETHEUS_MULTIPROC_DIR=" not in environment("api-service")
    assert (own_platform.state_dir / "worker-metrics").is_dir()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"CRUCIBLE_PORT": "64000"}, "choose a CRUCIBLE_PORT between 2526 and 63807"),
        ({"CRUCIBLE_PORT": "web"}, "CRUCIBLE_PORT must be a port number, not 'web'"),
        ({"CRUCIBLE_REDIS_PORT": "70000"}, "CRUCIBLE_REDIS_PORT must be a port number between"),
    ],
)
def test_a_port_out_of_range_names_its_variable_before_anything_starts(
    tmp_path: Path, setting: dict[str, str], named: str
) -> None:
    # Every port derived from CRUCIBLE_PORT, but for the one the case sets.
    env = {
        name: value
        for name, value in platform_env(tmp_path / "state").items()
        if not name.endswith("_PORT")
    }
    env.update(setting)

    refused = subprocess.run(
        [str(START_PLATFORM), "start", "--local"], env=env, capture_output=True, text=True
    )

    assert refused.returncode == 1
    assert named in refused.stderr
    assert not (tmp_path / "state").exists()
