"""A platform on PostgreSQL with evaluations flowing through it, for breaking its services."""

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from crucible_shared import limits
from tests.support.platform import Platform, local_platform
from tests.support.servers import PostgresServer, postgres_server

TERMINAL = ("completed", "failed", "cancelled")
# Short leases, beats and retries, so that recovery fits in a test; production
# defaults only make each step slower, not different.
QUICK_RECOVERY = {
    "CRUCIBLE_LEASE_TTL_SECONDS": "2",
    "CRUCIBLE_EXECUTOR_HEARTBEAT_TTL_SECONDS": "2",
    "CRUCIBLE_WORKER_HEARTBEAT_TTL_SECONDS": "3",
    "CRUCIBLE_REAPER_INTERVAL_SECONDS": "0.5",
    "CRUCIBLE_RETRY_BACKOFF_SECONDS": "0.5",
    "CRUCIBLE_REQUEUE_UNQUEUED_AFTER_SECONDS": "5",
}
PROGRAM = "import time\ntime.sleep(0.3)\nprint({n})\n"


@pytest.fixture(scope="package")
def chaos_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of the chaos suite's own: it restarts it, which nobody else may see."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def chaos_platform(chaos_postgres: PostgresServer, tmp_path: Path) -> Iterator[Platform]:
    """A platform of the test's own: a fault that outlives its test must not fail the next."""
    database_url = chaos_postgres.create_database(f"crucible_chaos_{uuid.uuid4().hex[:8]}")
    with local_platform(tmp_path / "state", database_url, **QUICK_RECOVERY) as running:
        yield running


@dataclass
class Traffic:
    """Submissions every `interval` seconds from a thread, and what the API answered."""

    platform: Platform
    # Below what the platform runs in a second, so that no backlog outlives the test.
    interval: float = 0.5
    # Evaluation id -> the number its program prints.
    accepted: dict[str, int] = field(default_factory=dict)
    # A dependency down is a 503 by contract; anything else is a fault of the API's.
    refused: int = 0
    unexpected: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _key: str = ""
    # How many were accepted when the fault struck.
    at_fault: int = 0

    def __enter__(self) -> "Traffic":
        # A key of its own, with quotas no fault-free run comes near: a 429
        # would be the quota speaking, not the platform's health.
        self._key = self.platform.new_key(
            "researcher",
            "chaos traffic",
            "--max-running",
            str(limits.MAX_RUNNING_PER_KEY.maximum),
            "--submissions-per-minute",
            str(limits.SUBMISSIONS_PER_MINUTE.maximum),
        )
        self._thread = threading.Thread(target=self._submit, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def wait_for_running(self, timeout: float = 30) -> None:
        """Until an evaluation runs: the fault must hit work in flight."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for evaluation_id in list(self.accepted):
                if self._status(evaluation_id) == "running":
                    return
            time.sleep(0.05)
        raise TimeoutError("no evaluation started running")

    def _status(self, evaluation_id: str) -> str:
        response = self.platform.client.get(f"/api/evaluations/{evaluation_id}")
        return str(response.json()["status"]) if response.status_code == 200 else ""

    def _submit(self) -> None:
        # A client of its own: this is another thread.
        headers = {"Authorization": f"Bearer {self._key}"}
        with httpx.Client(
            base_url=self.platform.client.base_url, headers=headers, timeout=30
        ) as client:
            n = 0
            while not self._stop.is_set():
                try:
                    response = client.post("/api/evaluations", json={"code": PROGRAM.format(n=n)})
                except httpx.TransportError as exc:
                    self.unexpected.append(f"submission {n}: {exc!r}")
                else:
                    if response.status_code == 202:
                        self.accepted[response.json()["id"]] = n
                    elif response.status_code == 503:
                        self.refused += 1
                    else:
                        self.unexpected.append(f"{response.status_code} {response.text}")
                n += 1
                self._stop.wait(self.interval)


def settle(platform: Platform, ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    """Every evaluation, once all are terminal; fails the test if one never gets there."""
    evaluations: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    pending = list(ids)
    while pending:
        assert time.monotonic() < deadline, f"stuck: {[evaluations.get(i) for i in pending]}"
        response = platform.client.get(f"/api/evaluations/{pending[0]}")
        assert response.status_code != 404, f"accepted, then lost: {pending[0]}"
        if response.status_code == 200:
            evaluations[pending[0]] = response.json()
            if evaluations[pending[0]]["status"] in TERMINAL:
                pending.pop(0)
                continue
        time.sleep(0.1)
    return [evaluations[i] for i in ids]
