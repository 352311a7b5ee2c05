"""One authority for each run (issue 14), proven on real processes.

Storage decides each evaluation's status; the ready queue, the leases and the
dispatch messages in Redis can be lost, and the platform must neither lose an
evaluation nor run one twice to completion. Runs are counted from the
executor's log, which has a line for every sandbox started and finished.
"""

import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from crucible_shared import redis_keys, service_auth
from tests.e2e.test_queue_semantics import BLOCKER, SERIAL, _statuses
from tests.support.platform import Platform, local_platform


def _pool(platform: Platform) -> Redis:
    return Redis.from_url(f"redis://127.0.0.1:{platform.env['CRUCIBLE_REDIS_PORT']}/1")


def _runs(platform: Platform, what: str) -> Counter[str]:
    """How many times the executor's log says each evaluation `started` or `finished`."""
    found = re.findall(rf"evaluation ([0-9a-f-]{{36}}) {what}", platform.log("executor-service"))
    return Counter(found)


def _wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


@pytest.mark.timeout(900)
def test_a_backlog_far_beyond_the_slots_waits_and_spends_no_attempt(tmp_path: Path) -> None:
    settings = {"CRUCIBLE_WORKER_CONCURRENCY": "6", "CRUCIBLE_EXECUTOR_CAPACITY": "2"}
    with local_platform(tmp_path / "state", **settings) as platform:
        body = [{"code": "import time; time.sleep(2)", "timeout_seconds": 30}] * 200
        batch = platform.client.post("/api/evaluations/batch", json=body)
        assert batch.status_code == 202, batch.text
        ids = [item["id"] for item in batch.json()["items"]]
        assert all(ids)

        done = [platform.wait_terminal(i, timeout=600) for i in ids]

        assert Counter(d["status"] for d in done) == {"completed": 200}
        assert {d["attempts"] for d in done} == {1}
        assert platform.client.get("/api/dead-letters").json() == []
        assert max(_runs(platform, "started").values()) == 1


@pytest.fixture
def serial(tmp_path: Path) -> Iterator[Platform]:
    with local_platform(tmp_path / "state", **SERIAL) as running:
        yield running


def test_redis_restarted_empty_mid_run_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path,
) -> None:
    settings = {**SERIAL, "CRUCIBLE_EXECUTOR_CAPACITY": "2", "CRUCIBLE_WORKER_CONCURRENCY": "3"}
    with local_platform(tmp_path / "state", **settings) as platform:
        ids = [platform.submit(code=BLOCKER.format(seconds=3))["id"] for _ in range(6)]
        _wait_until(lambda: len(_runs(platform, "started")) == 2, 30, "two sandboxes never started")

        # As a pool Redis without persistence would come back: empty.
        platform.kill("redis")
        shutil.rmtree(platform.state_dir / "redis")
        (platform.state_dir / "redis").mkdir()
        assert platform.script("start", "--local").returncode == 0

        done = [platform.wait_terminal(i, timeout=120) for i in ids]
        assert [d["status"] for d in done] == ["completed"] * 6
        assert [d["stdout"] for d in done] == ["blocking\ndone\n"] * 6
        finished = _runs(platform, "finished")
        assert set(finished) == set(ids)
        assert max(finished.values()) == 1


def test_an_evaluation_cancelled_while_waiting_for_a_slot_never_starts_a_sandbox(
    serial: Platform,
) -> None:
    blocker = serial.submit(code=BLOCKER.format(seconds=3))
    serial.wait_status(blocker["id"], "running")
    waiting = serial.submit(code="print('never')")
    assert serial.client.post(f"/api/evaluations/{waiting['id']}/cancel").status_code == 200

    assert serial.wait_terminal(blocker["id"])["status"] == "completed"
    after = serial.submit(code="print('after')")
    assert serial.wait_terminal(after["id"])["stdout"] == "after\n"

    assert waiting["id"] not in _runs(serial, "started")
    assert _statuses(serial, waiting["id"]) == ["queued", "cancelled"]


def test_a_cancellation_the_executor_missed_is_read_at_its_next_heartbeat(
    serial: Platform,
) -> None:
    victim = serial.submit(code=BLOCKER.format(seconds=60))
    serial.wait_status(victim["id"], "running")

    with _pool(serial) as pool:
        # The executor's channel for cancellations is cut; it reconnects a second later.
        assert pool.client_kill_filter(_type="pubsub") >= 1
        assert serial.client.post(f"/api/evaluations/{victim['id']}/cancel").status_code == 200

    _wait_until(
        lambda: (
            f"evaluation {victim['id']} was cancelled; sandbox killed"
            in serial.log("executor-service")
        ),
        10,
        "the heartbeat never killed the cancelled sandbox",
    )
    _wait_until(
        lambda: serial.client.get("/api/queue").json()["leases_held"] == 0,
        10,
        "the cancelled run's slot was never given back",
    )


def test_a_run_that_loses_its_lease_is_killed_and_retried_once(serial: Platform) -> None:
    victim = serial.submit(code=BLOCKER.format(seconds=3))
    serial.wait_status(victim["id"], "running")

    with _pool(serial) as pool:
        token = pool.get(redis_keys.evaluation_lease(victim["id"]))
        assert token is not None
        # Its slot given to nobody, as an expiry would: its renewal now fails.
        pool.delete(redis_keys.lease(token.decode()))

    done = serial.wait_terminal(victim["id"], timeout=60)
    assert (done["status"], done["attempts"], done["stdout"]) == (
        "completed",
        2,
        "blocking\ndone\n",
    )
    details = " ".join(
        e["detail"] or ""
        for e in serial.client.get(f"/api/evaluations/{victim['id']}/events").json()
    )
    assert "its lease was lost" in details
    assert _runs(serial, "started")[victim["id"]] == 2
    assert _runs(serial, "finished")[victim["id"]] == 1


def test_a_batch_stored_but_never_queued_is_queued_by_the_reaper(tmp_path: Path) -> None:
    settings = {**SERIAL, "CRUCIBLE_EXECUTOR_CAPACITY": "2"}
    with local_platform(tmp_path / "state", **settings) as platform:
        # The API is frozen the moment storage has the batch, then killed:
        # whatever it had not yet put in the ready queue, nobody will.
        token = (platform.state_dir / "service-token").read_text()
        storage_url = f"http://127.0.0.1:{platform.env['CRUCIBLE_STORAGE_PORT']}"
        body = [{"code": f"print({n})"} for n in range(100)]
        with (
            httpx.Client(base_url=storage_url, headers=service_auth.headers(token)) as storage,
            httpx.Client(base_url=platform.api_url, auth=platform.client.auth, timeout=30) as api,
        ):
            pid = platform.pid("api-service")
            sending = threading.Thread(
                target=lambda: _swallow(lambda: api.post("/api/evaluations/batch", json=body))
            )
            sending.start()
            _wait_until(
                lambda: storage.get("/evaluations/count").json()["count"] > 0,
                30,
                "the batch never reached storage",
            )
            os.killpg(pid, signal.SIGSTOP)
            os.killpg(pid, signal.SIGKILL)
            sending.join()
            assert platform.script("start", "--local").returncode == 0

            def count(**where: str) -> int:
                found: int = storage.get("/evaluations/count", params=where).json()["count"]
                return found

            _wait_until(lambda: count(active="true") == 0, 300, "some never finished")
            assert count() == count(status="completed") == 100


def _swallow(call: Any) -> None:
    with suppress(httpx.HTTPError):  # the API died under it, as intended
        call()
