"""Creating, reading and updating evaluations, and the events updates leave."""

import json
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, can_transition
from crucible_shared.schemas.evaluations import Evaluation
from crucible_shared.schemas.events import EvaluationEvent
from tests.storage.factories import move, submit, submit_in, update_body

_S = EvaluationStatus


def _events(client: TestClient, evaluation_id: str) -> list[EvaluationEvent]:
    response = client.get(f"/evaluations/{evaluation_id}/events")
    assert response.status_code == 200, response.text
    return [EvaluationEvent.model_validate(event) for event in response.json()]


def test_a_submission_is_stored_queued_with_its_limits(client: TestClient) -> None:
    before = datetime.now(UTC)
    created = submit(
        client,
        code="import sys",
        stdin="4\x002\n",
        timeout_seconds=5,
        memory_mb=128,
        priority="high",
        image="ml",
    )

    assert (created.status, created.attempts, created.image_digest) == (_S.QUEUED, 0, None)
    assert (created.timeout_seconds, created.memory_mb, created.priority) == (5, 128, "high")
    assert created.image == "ml"
    assert (created.code, created.stdin, created.language) == ("import sys", "4\x002\n", "python")
    assert created.created_at == created.queued_at == created.updated_at
    assert created.created_at.tzinfo is not None
    assert before <= created.created_at <= datetime.now(UTC)
    assert created.started_at is None and created.finished_at is None
    assert client.get(f"/evaluations/{created.id}").json() == created.model_dump(mode="json")


def test_a_submission_without_limits_gets_the_defaults(client: TestClient) -> None:
    created = submit(client)

    assert created.timeout_seconds == limits.TIMEOUT_SECONDS.default
    assert created.memory_mb == limits.MEMORY_MB.default
    assert created.priority == "normal"
    assert created.image == "python"


def test_each_submission_gets_its_own_id(client: TestClient) -> None:
    assert len({submit(client).id for _ in range(5)}) == 5


@pytest.mark.parametrize(
    "body",
    [{}, {"code": ""}, {"code": "x", "timeout_seconds": 0}, {"code": "x", "surprise": 1}],
    ids=["no code", "empty code", "timeout too small", "unknown field"],
)
def test_an_invalid_submission_is_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/evaluations", json=body).status_code == 422


@pytest.mark.parametrize("evaluation_id", [str(uuid4()), "not-a-uuid", "a%00b"])
def test_an_unknown_evaluation_is_404(client: TestClient, evaluation_id: str) -> None:
    shown = evaluation_id.replace("%00", "\x00")
    not_found = {"detail": f"evaluation {shown} not found"}

    for response in (
        client.get(f"/evaluations/{evaluation_id}"),
        client.get(f"/evaluations/{evaluation_id}/events"),
        client.patch(f"/evaluations/{evaluation_id}", json={"status": "provisioning"}),
    ):
        assert (response.status_code, response.json()) == (404, not_found)


def test_the_lifecycle_decides_every_transition(client: TestClient) -> None:
    for current, requested in product(_S, _S):
        evaluation = submit_in(client, current)
        response = client.patch(f"/evaluations/{evaluation.id}", json=update_body(requested))

        if can_transition(current, requested):
            assert response.status_code == 200, (current, requested, response.text)
            assert response.json()["status"] == requested
        else:
            assert response.status_code == 409, (current, requested, response.text)
            assert response.json() == {
                "detail": f"evaluation {evaluation.id} is {current}; it cannot become {requested}"
            }


def test_a_refused_transition_changes_nothing(client: TestClient) -> None:
    completed = submit_in(client, _S.COMPLETED)
    events = _events(client, completed.id)

    response = client.patch(
        f"/evaluations/{completed.id}", json={"status": "running", "executor": "elsewhere"}
    )

    assert response.status_code == 409
    assert "is completed; it cannot become running" in response.json()["detail"]
    assert client.get(f"/evaluations/{completed.id}").json() == completed.model_dump(mode="json")
    assert _events(client, completed.id) == events


def test_transitions_set_the_timestamps(client: TestClient) -> None:
    queued = submit(client)
    provisioning = move(client, queued.id, _S.PROVISIONING)
    assert provisioning.started_at is None and provisioning.finished_at is None
    assert provisioning.updated_at is not None and provisioning.updated_at > queued.created_at

    running = move(client, queued.id, _S.RUNNING)
    assert running.started_at is not None and running.started_at >= running.queued_at
    assert running.updated_at == running.started_at
    assert running.finished_at is None

    retried = move(client, queued.id, _S.QUEUED)
    assert retried.queued_at > queued.queued_at
    assert retried.updated_at == retried.queued_at
    assert retried.started_at is None
    assert retried.created_at == queued.created_at

    move(client, queued.id, _S.PROVISIONING)
    rerun = move(client, queued.id, _S.RUNNING)
    assert rerun.started_at is not None and rerun.started_at > running.started_at

    completed = move(client, queued.id, _S.COMPLETED)
    assert completed.finished_at is not None and completed.finished_at >= rerun.started_at
    assert completed.updated_at == completed.finished_at
    assert completed.started_at == rerun.started_at
    for moment in (completed.created_at, completed.queued_at, completed.finished_at):
        assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("terminal", [_S.FAILED, _S.CANCELLED])
def test_leaving_the_queue_for_good_sets_finished_at(
    client: TestClient, terminal: EvaluationStatus
) -> None:
    finished = move(client, submit(client).id, terminal)

    assert finished.finished_at is not None and finished.finished_at >= finished.queued_at
    assert finished.started_at is None


def test_a_completed_update_stores_the_results(client: TestClient) -> None:
    running = submit_in(client, _S.RUNNING)
    results = {
        "outcome": "output_limit_exceeded",
        "exit_code": -9,
        "stdout": "héllo \x00 wörld ✓\n" * 3,
        "stderr": "Traceback …",
        "stdout_truncated": True,
        "stderr_truncated": False,
        "duration_ms": 1234,
        "executor": "executor-7",
        "image_digest": "sha256:0123abcd",
    }

    updated = move(client, running.id, _S.COMPLETED, **results)

    stored = client.get(f"/evaluations/{running.id}").json()
    assert stored == updated.model_dump(mode="json")
    assert {field: stored[field] for field in results} == results


def test_a_failed_update_stores_the_error(client: TestClient) -> None:
    provisioning = submit_in(client, _S.PROVISIONING)

    move(client, provisioning.id, _S.FAILED, error="executor-2 refused the sandbox")

    stored = Evaluation.model_validate(client.get(f"/evaluations/{provisioning.id}").json())
    assert (stored.status, stored.error, stored.outcome) == (
        _S.FAILED,
        "executor-2 refused the sandbox",
        None,
    )


def test_attempts_count_the_times_it_was_taken_to_an_executor(client: TestClient) -> None:
    evaluation = submit(client)
    assert move(client, evaluation.id, _S.PROVISIONING).attempts == 1
    assert move(client, evaluation.id, _S.RUNNING).attempts == 1
    assert move(client, evaluation.id, _S.QUEUED).attempts == 1

    retried = move(client, evaluation.id, _S.PROVISIONING)

    assert retried.attempts == 2
    assert client.get("/evaluations").json()["items"][0]["attempts"] == 2


def test_fields_an_update_leaves_out_are_kept(client: TestClient) -> None:
    evaluation = submit(client)
    move(client, evaluation.id, _S.PROVISIONING, executor="executor-3")

    running = move(client, evaluation.id, _S.RUNNING)

    assert running.executor == "executor-3"


def test_events_record_every_transition_in_order(client: TestClient) -> None:
    evaluation = submit(client)
    move(client, evaluation.id, _S.PROVISIONING, detail="claimed by worker-1")
    started = move(client, evaluation.id, _S.RUNNING)
    move(client, evaluation.id, _S.QUEUED, detail="executor lost; retrying")
    move(client, evaluation.id, _S.PROVISIONING)
    refused = client.patch(f"/evaluations/{evaluation.id}", json=update_body(_S.COMPLETED))
    assert refused.status_code == 409
    finished = move(client, evaluation.id, _S.CANCELLED, detail="user asked")

    events = _events(client, evaluation.id)

    assert [(e.sequence, e.status, e.detail) for e in events] == [
        (1, _S.QUEUED, None),
        (2, _S.PROVISIONING, "claimed by worker-1"),
        (3, _S.RUNNING, None),
        (4, _S.QUEUED, "executor lost; retrying"),
        (5, _S.PROVISIONING, None),
        (6, _S.CANCELLED, "user asked"),
    ]
    assert {e.evaluation_id for e in events} == {evaluation.id}
    assert events[0].at == evaluation.created_at
    assert events[2].at == started.started_at
    assert events[3].at == finished.queued_at
    assert events[-1].at == finished.finished_at
    assert [e.at for e in events] == sorted(e.at for e in events)


@pytest.mark.parametrize(
    ("status", "fields"),
    [
        (_S.COMPLETED, {"exit_code": 2**40}),
        (_S.COMPLETED, {"duration_ms": -(2**40)}),
        (_S.FAILED, {"error": "bad \x00 byte"}),
        (_S.COMPLETED, {"detail": "bad \x00 byte"}),
        (_S.COMPLETED, {"executor": "bad \x00 byte"}),
        (_S.COMPLETED, {"image_digest": "bad \x00 byte"}),
    ],
    ids=[
        "huge exit code",
        "huge duration",
        "NUL in error",
        "NUL in detail",
        "NUL in executor",
        "NUL in image digest",
    ],
)
def test_an_update_a_database_cannot_keep_is_422_and_changes_nothing(
    client: TestClient, status: EvaluationStatus, fields: dict[str, Any]
) -> None:
    running = submit_in(client, _S.RUNNING)

    response = client.patch(f"/evaluations/{running.id}", json=update_body(status, **fields))

    assert response.status_code == 422, response.text
    assert next(iter(fields)) in response.json()["detail"]
    assert client.get(f"/evaluations/{running.id}").json() == running.model_dump(mode="json")
    assert len(_events(client, running.id)) == 3


@pytest.mark.parametrize("field", ["code", "stdin"])
def test_a_lone_surrogate_is_422(client: TestClient, field: str) -> None:
    # Valid JSON (json.dumps escapes it as \\ud800) that Python decodes, but not Unicode text.
    body = json.dumps({"code": "x", field: "a\ud800b"})

    response = client.post(
        "/evaluations", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_an_update_that_breaks_the_schema_is_422(client: TestClient) -> None:
    running = submit_in(client, _S.RUNNING)

    for body in (
        {"status": "completed"},
        {"status": "failed"},
        {"status": "running", "outcome": "success"},
        {"status": "finished"},
        {"status": "running", "surprise": True},
    ):
        assert client.patch(f"/evaluations/{running.id}", json=body).status_code == 422, body
