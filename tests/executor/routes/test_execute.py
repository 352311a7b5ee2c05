"""POST /execute over real HTTP: the event stream, capacity, and clients that leave."""

import time
import uuid
from typing import Any

import httpx
import pytest

from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import (
    ExecutionEvent,
    ExecutionFailed,
    ExecutionFinished,
    ExecutionStarted,
    execution_event_adapter,
)
from tests.executor.support import (
    ExecutorServer,
    processes_with,
    spawn_marked_child,
    wait_until,
)

SLEEPER = {"evaluation_id": "sleeper", "code": "import time; time.sleep(60)", "timeout_seconds": 60}


def _body(code: str, **fields: Any) -> dict[str, Any]:
    return {"evaluation_id": f"test-{uuid.uuid4().hex[:8]}", "code": code, **fields}


def _events(response: httpx.Response) -> list[ExecutionEvent]:
    return [execution_event_adapter.validate_json(line) for line in response.iter_lines() if line]


def _slot_is_free(http: httpx.Client, executor: ExecutorServer) -> bool:
    response = http.post(f"{executor.url}/execute", json=_body("pass"))
    return response.status_code == 200


def test_streams_started_then_finished(http: httpx.Client, executor: ExecutorServer) -> None:
    code = "import time; time.sleep(1); print('hello')"
    arrivals = []
    with http.stream("POST", f"{executor.url}/execute", json=_body(code)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        sent_at = time.monotonic()
        for line in response.iter_lines():
            arrivals.append(
                (time.monotonic() - sent_at, execution_event_adapter.validate_json(line))
            )

    (started_after, started), (finished_after, finished) = arrivals
    assert isinstance(started, ExecutionStarted)
    assert started.executor == executor.executor_id
    assert isinstance(finished, ExecutionFinished)
    assert finished.result.outcome == Outcome.SUCCESS
    assert finished.result.stdout == "hello\n"
    # Streamed as it happens: `started` did not wait for the program.
    assert started_after < 0.5 <= 1 <= finished_after


def test_failed_when_the_sandbox_cannot_run(
    http: httpx.Client, broken_executor: ExecutorServer
) -> None:
    for _ in range(2):  # the slot comes back after a failure too
        response = http.post(f"{broken_executor.url}/execute", json=_body("print('hi')"))

        assert response.status_code == 200
        (event,) = _events(response)
        assert isinstance(event, ExecutionFailed)
        assert "/usr/bin/no-such-python" in event.error


def test_failed_when_the_image_is_not_offered(http: httpx.Client, executor: ExecutorServer) -> None:
    response = http.post(f"{executor.url}/execute", json=_body("import numpy", image="ml"))

    (event,) = _events(response)
    assert isinstance(event, ExecutionFailed)
    assert "image `ml` is not offered" in event.error


def test_503_at_once_when_at_capacity(http: httpx.Client, executor: ExecutorServer) -> None:
    with http.stream("POST", f"{executor.url}/execute", json=SLEEPER) as running:
        # Keep the iterator: dropping it closes httpx's stream, which is a disconnect.
        lines = running.iter_lines()
        assert isinstance(execution_event_adapter.validate_json(next(lines)), ExecutionStarted)
        asked_at = time.monotonic()
        refused = http.post(f"{executor.url}/execute", json=_body("print('hi')"))
        answered_after = time.monotonic() - asked_at

    assert refused.status_code == 503
    assert answered_after < 1
    detail = refused.json()["detail"]
    assert "capacity" in detail and executor.executor_id in detail
    wait_until(lambda: _slot_is_free(http, executor))


def test_client_disconnect_kills_the_sandbox_and_frees_the_slot(
    http: httpx.Client, executor: ExecutorServer
) -> None:
    marker = f"crucible-test-{uuid.uuid4().hex}"
    body = _body(spawn_marked_child(marker), timeout_seconds=60)
    with http.stream("POST", f"{executor.url}/execute", json=body) as response:
        lines = response.iter_lines()
        first = execution_event_adapter.validate_json(next(lines))
        assert isinstance(first, ExecutionStarted)
        wait_until(lambda: bool(processes_with(marker)))
    # Leaving the block mid-stream closed the connection, as a dying worker would.

    assert wait_until(lambda: not processes_with(marker)) < 2
    assert wait_until(lambda: _slot_is_free(http, executor)) < 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"evaluation_id": "e", "code": ""},
        {"evaluation_id": "e", "code": 5},
        {"evaluation_id": "e", "code": "pass", "timeout_seconds": 0},
        {"evaluation_id": "e", "code": "pass", "timeout_seconds": 901},
        {"evaluation_id": "e", "code": "pass", "memory_mb": 63},
        {"evaluation_id": "e", "code": "pass", "memory_mb": 4097},
    ],
)
def test_bad_requests_are_422(
    http: httpx.Client, executor: ExecutorServer, body: dict[str, Any]
) -> None:
    response = http.post(f"{executor.url}/execute", json=body)

    assert response.status_code == 422
    assert _slot_is_free(http, executor)


def test_a_body_that_is_not_json_is_422(http: httpx.Client, executor: ExecutorServer) -> None:
    response = http.post(
        f"{executor.url}/execute", content=b"nope", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
