"""Priorities, cancellation and recovery, proven by breaking real processes.

Each test gets a platform of its own: one worker process and one executor
slot, so that the order in which evaluations run is the platform's choice
and nothing else's.
"""

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from crucible_shared.executor_registry import deregister_executor, register_executor
from crucible_shared.schemas.evaluations import OwnedSubmission
from crucible_shared.settings import StorageClientSettings
from crucible_shared.storage_client import StorageClient
from tests.support.platform import Platform, local_platform
from tests.support.ports import free_port

SERIAL = {
    "CRUCIBLE_WORKER_CONCURRENCY": "1",
    "CRUCIBLE_EXECUTOR_CAPACITY": "1",
    # Short leases and beats, so that recovery is quick enough to test.
    "CRUCIBLE_LEASE_TTL_SECONDS": "2",
    "CRUCIBLE_EXECUTOR_HEARTBEAT_TTL_SECONDS": "2",
    "CRUCIBLE_REAPER_INTERVAL_SECONDS": "0.5",
    "CRUCIBLE_RETRY_BACKOFF_SECONDS": "0.2",
    "CRUCIBLE_REQUEUE_UNQUEUED_AFTER_SECONDS": "2",
}

BLOCKER = "import time\nprint('blocking', flush=True)\ntime.sleep({seconds})\nprint('done')"


@pytest.fixture
def serial(tmp_path: Path) -> Iterator[Platform]:
    with local_platform(tmp_path / "state", **SERIAL) as running:
        yield running


def _started(evaluation: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(evaluation["started_at"])


def _statuses(platform: Platform, evaluation_id: str) -> list[str]:
    events = platform.client.get(f"/api/evaluations/{evaluation_id}/events").json()
    return [event["status"] for event in events]


def test_high_runs_next_then_normal_then_low(serial: Platform) -> None:
    blocker = serial.submit(code=BLOCKER.format(seconds=3), priority="normal")
    serial.wait_status(blocker["id"], "running")

    lows = [serial.submit(code=f"print('low {n}')", priority="low") for n in range(3)]
    normals = [serial.submit(code=f"print('normal {n}')", priority="normal") for n in range(3)]
    high = serial.submit(code="print('high')", priority="high")

    positions = [
        serial.client.get(f"/api/evaluations/{e['id']}").json()["queue_position"] for e in lows
    ]
    assert positions == [1, 2, 3]

    done = {e["id"]: serial.wait_terminal(e["id"]) for e in [high, *normals, *lows]}
    order = sorted(done.values(), key=_started)

    assert [e["id"] for e in order] == [e["id"] for e in [high, *normals, *lows]]
    assert all(e["outcome"] == "success" for e in order)


def test_low_runs_when_the_others_are_empty(serial: Platform) -> None:
    assert serial.run(code="print('alone')", priority="low")["stdout"] == "alone\n"


def test_a_cancelled_queued_evaluation_never_starts(serial: Platform) -> None:
    blocker = serial.submit(code=BLOCKER.format(seconds=2))
    serial.wait_status(blocker["id"], "running")
    waiting = serial.submit(code="print('never')")

    response = serial.client.post(f"/api/evaluations/{waiting['id']}/cancel")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    serial.wait_terminal(blocker["id"])
    after = serial.run(code="print('next')")  # the worker has gone past the cancelled one
    assert after["stdout"] == "next\n"
    assert _statuses(serial, waiting["id"]) == ["queued", "cancelled"]


def test_a_cancelled_running_evaluation_has_its_sandbox_killed(serial: Platform) -> None:
    spinning = serial.submit(code="while True:\n    pass", timeout_seconds=120)
    serial.wait_status(spinning["id"], "running")

    cancelled_at = time.monotonic()
    response = serial.client.post(f"/api/evaluations/{spinning['id']}/cancel")
    assert response.json()["status"] == "cancelled"

    # The slot comes back only once the sandbox is gone.
    while serial.client.get("/api/queue").json()["leases_held"]:
        assert time.monotonic() - cancelled_at < 2, "sandbox still running 2 s after cancel"
        time.sleep(0.05)
    assert serial.run(code="print('free')")["stdout"] == "free\n"
    assert serial.client.get(f"/api/evaluations/{spinning['id']}").json()["status"] == "cancelled"


def test_cancelling_a_finished_evaluation_is_409(serial: Platform) -> None:
    done = serial.run(code="print(1)")

    response = serial.client.post(f"/api/evaluations/{done['id']}/cancel")

    assert response.status_code == 409
    assert "completed" in response.json()["detail"]


def test_a_worker_killed_mid_run_loses_nothing(serial: Platform) -> None:
    victim = serial.submit(code=BLOCKER.format(seconds=2))
    serial.wait_status(victim["id"], "running")

    serial.kill("celery-worker")
    killed_at = time.monotonic()
    serial.script("start", "--local")  # a fresh worker, as a supervisor would start

    done = serial.wait_terminal(victim["id"], timeout=60)
    recovery = time.monotonic() - killed_at
    print(f"\nrecovery after a killed worker: {recovery:.1f} s")

    assert done["status"] == "completed" and done["stdout"] == "blocking\ndone\n"
    assert "retrying: its worker or executor was lost" in [
        e["detail"] for e in serial.client.get(f"/api/evaluations/{victim['id']}/events").json()
    ]
    queue = serial.client.get("/api/queue").json()
    assert queue["leases_held"] == 0
    assert queue["slots_total"] == 1


def test_an_executor_killed_mid_run_leaves_nothing_running(tmp_path: Path) -> None:
    # While no executor is up, the retry waits for a slot: waiting is not a fault.
    with local_platform(tmp_path / "state", **SERIAL) as serial:
        victim = serial.submit(code=BLOCKER.format(seconds=30))
        serial.wait_status(victim["id"], "running")

        serial.kill("executor-service")
        serial.script("start", "--local")

        done = serial.wait_terminal(victim["id"], timeout=60)
        assert done["status"] == "completed"
        assert "retrying" in " ".join(
            e["detail"] or ""
            for e in serial.client.get(f"/api/evaluations/{victim['id']}/events").json()
        )
        assert serial.client.get("/api/queue").json()["leases_held"] == 0


def test_what_keeps_failing_is_dead_lettered_and_can_be_requeued(tmp_path: Path) -> None:
    settings = {**SERIAL, "CRUCIBLE_MAX_RETRIES": "1"}
    with local_platform(tmp_path / "state", **settings) as platform:
        platform.kill("executor-service")
        # In its place, an executor that the pool lists but nothing answers
        # for: every attempt on it is a platform fault.
        pool = Redis.from_url(f"redis://127.0.0.1:{platform.env['CRUCIBLE_REDIS_PORT']}/1")
        ghost = threading.Event()

        def haunt() -> None:
            while not ghost.is_set():
                register_executor(
                    pool,
                    executor_id="ghost",
                    url=f"http://127.0.0.1:{free_port()}",
                    backend="process",
                    cgroup="none",
                    capacity=1,
                    ttl_seconds=5,
                )
                ghost.wait(0.1)

        haunting = threading.Thread(target=haunt)
        haunting.start()
        try:
            failed = platform.run(code="print('again')")
        finally:
            ghost.set()
            haunting.join()
        deregister_executor(pool, executor_id="ghost")

        assert failed["status"] == "failed"
        assert "gave up after 2 attempts" in failed["error"]
        assert failed["attempts"] == 2
        letters = platform.client.get("/api/dead-letters").json()
        assert [letter["evaluation_id"] for letter in letters] == [failed["id"]]

        platform.script("start", "--local")
        while platform.client.get("/api/queue").json()["slots_total"] < 1:
            time.sleep(0.05)  # the executor is back in the pool
        requeued = platform.client.post(f"/api/dead-letters/{letters[0]['id']}/requeue")
        assert requeued.status_code == 202
        assert platform.wait_terminal(requeued.json()["id"])["stdout"] == "again\n"
        again = platform.client.post(f"/api/dead-letters/{letters[0]['id']}/requeue")
        assert again.status_code == 409
        pool.close()


def test_redis_restarted_while_evaluations_wait(serial: Platform) -> None:
    blocker = serial.submit(code=BLOCKER.format(seconds=2))
    serial.wait_status(blocker["id"], "running")
    waiting = [serial.submit(code=f"print({n})") for n in range(5)]

    serial.kill("redis")
    refused = serial.client.post("/api/evaluations", json={"code": "print(1)"})
    assert refused.status_code == 503
    assert "Redis" in refused.json()["detail"]
    serial.script("start", "--local")

    done = [serial.wait_terminal(e["id"], timeout=90) for e in [blocker, *waiting]]
    assert [d["status"] for d in done] == ["completed"] * 6
    assert [d["stdout"] for d in done[1:]] == [f"{n}\n" for n in range(5)]


def test_a_queued_evaluation_never_queued_still_runs(serial: Platform) -> None:
    # Stored as the API stores it, but never put in the ready queue: as if
    # the API died between the two.
    storage = StorageClient(
        StorageClientSettings(
            storage_url=f"http://127.0.0.1:{serial.env['CRUCIBLE_STORAGE_PORT']}",
            service_token=(serial.state_dir / "service-token").read_text(),
        )
    )
    orphan = storage.create_evaluation(OwnedSubmission(code="print('found again')"))
    storage.close()

    finished = serial.wait_terminal(orphan.id, timeout=60)

    assert (finished["status"], finished["stdout"]) == ("completed", "found again\n")
    assert f"evaluation {orphan.id} is queued in no ready line" in serial.log("celery-worker")


def test_an_evaluation_waiting_for_a_slot_spends_no_attempt(tmp_path: Path) -> None:
    # Two worker processes and one slot: the second evaluation waits for the
    # slot, past the reaper's threshold (2 s). Waiting is neither a fault nor
    # a loss: it runs once, on its first attempt, and is never queued again.
    settings = {**SERIAL, "CRUCIBLE_WORKER_CONCURRENCY": "2"}
    with local_platform(tmp_path / "state", **settings) as platform:
        blocker = platform.submit(code=BLOCKER.format(seconds=6))
        platform.wait_status(blocker["id"], "running")
        waiting = platform.submit(code="print('waited')")
        time.sleep(3)
        assert platform.client.get(f"/api/evaluations/{waiting['id']}").json()["status"] == "queued"

        done = platform.wait_terminal(waiting["id"], timeout=60)

        assert (done["status"], done["stdout"], done["attempts"]) == ("completed", "waited\n", 1)
        assert platform.wait_terminal(blocker["id"])["status"] == "completed"
        assert _statuses(platform, waiting["id"]) == [
            "queued",
            "provisioning",
            "running",
            "completed",
        ]
        assert f"evaluation {waiting['id']} is queued in no ready line" not in platform.log(
            "celery-worker"
        )
