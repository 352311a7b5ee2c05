"""Evaluations made through the HTTP API, in whatever status a test needs."""

from typing import Any

from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.evaluations import Evaluation

_S = EvaluationStatus
# The transitions that lead from `queued` to each status.
_PATHS: dict[EvaluationStatus, list[EvaluationStatus]] = {
    _S.QUEUED: [],
    _S.PROVISIONING: [_S.PROVISIONING],
    _S.RUNNING: [_S.PROVISIONING, _S.RUNNING],
    _S.COMPLETED: [_S.PROVISIONING, _S.RUNNING, _S.COMPLETED],
    _S.FAILED: [_S.FAILED],
    _S.CANCELLED: [_S.CANCELLED],
}
# What an update to a status must carry besides the status.
_REQUIRED: dict[EvaluationStatus, dict[str, str]] = {
    _S.COMPLETED: {"outcome": "success"},
    _S.FAILED: {"error": "no executor answered"},
}


def update_body(status: EvaluationStatus, **fields: Any) -> dict[str, Any]:
    return {"status": status, **_REQUIRED.get(status, {}), **fields}


def submit(client: TestClient, **fields: Any) -> Evaluation:
    response = client.post("/evaluations", json={"code": "print('hello')", **fields})
    assert response.status_code == 201, response.text
    return Evaluation.model_validate(response.json())


def move(
    client: TestClient, evaluation_id: str, status: EvaluationStatus, **fields: Any
) -> Evaluation:
    response = client.patch(f"/evaluations/{evaluation_id}", json=update_body(status, **fields))
    assert response.status_code == 200, response.text
    return Evaluation.model_validate(response.json())


def submit_in(client: TestClient, status: EvaluationStatus, **fields: Any) -> Evaluation:
    evaluation = submit(client, **fields)
    for step in _PATHS[status]:
        evaluation = move(client, evaluation.id, step)
    return evaluation
