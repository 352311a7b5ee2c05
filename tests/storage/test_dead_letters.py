"""Dead letters: evaluations the platform gave up on, and running them again."""

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.limits import LIST_PAGE_SIZE
from crucible_shared.schemas.evaluations import DeadLetter, Evaluation
from tests.storage.factories import move, submit, submit_in

_S = EvaluationStatus


def _dead_letters(client: TestClient, **params: Any) -> list[DeadLetter]:
    response = client.get("/dead-letters", params=params)
    assert response.status_code == 200, response.text
    return [DeadLetter.model_validate(letter) for letter in response.json()]


def _give_up(client: TestClient, reason: str = "gave up after 2 attempts", **fields: Any) -> str:
    evaluation = submit_in(client, _S.PROVISIONING, **fields)
    move(client, evaluation.id, _S.FAILED, error=reason, dead_letter=True)
    return evaluation.id


def test_giving_up_keeps_a_dead_letter(client: TestClient) -> None:
    evaluation = submit(client)
    for _ in range(2):
        move(client, evaluation.id, _S.PROVISIONING)
        move(client, evaluation.id, _S.QUEUED)
    move(client, evaluation.id, _S.PROVISIONING)

    failed = move(client, evaluation.id, _S.FAILED, error="no executor", dead_letter=True)

    (letter,) = _dead_letters(client)
    assert (letter.evaluation_id, letter.reason, letter.attempts) == (
        evaluation.id,
        "no executor",
        3,
    )
    assert letter.created_at == failed.finished_at
    assert letter.requeued_as is None


def test_a_failure_without_the_flag_keeps_none(client: TestClient) -> None:
    move(client, submit(client).id, _S.FAILED, error="could not be queued")

    assert _dead_letters(client) == []


def test_only_a_failure_is_dead_lettered(client: TestClient) -> None:
    running = submit_in(client, _S.RUNNING)

    response = client.patch(
        f"/evaluations/{running.id}",
        json={"status": "completed", "outcome": "success", "dead_letter": True},
    )

    assert response.status_code == 422


def test_dead_letters_are_listed_newest_first_and_bounded(client: TestClient) -> None:
    given_up = [_give_up(client, reason=f"reason {n}") for n in range(3)]

    assert [letter.evaluation_id for letter in _dead_letters(client)] == given_up[::-1]
    assert [letter.evaluation_id for letter in _dead_letters(client, limit=2)] == given_up[:0:-1]
    for limit in (LIST_PAGE_SIZE.minimum - 1, LIST_PAGE_SIZE.maximum + 1):
        assert client.get("/dead-letters", params={"limit": limit}).status_code == 422


def test_a_requeue_runs_the_same_submission_again_once(client: TestClient) -> None:
    dead_id = _give_up(
        client, code="print(input())", stdin="x", priority="low", timeout_seconds=7, image="ml"
    )
    (letter,) = _dead_letters(client)

    response = client.post(f"/dead-letters/{letter.id}/requeue")

    assert response.status_code == 201, response.text
    again = Evaluation.model_validate(response.json())
    dead = Evaluation.model_validate(client.get(f"/evaluations/{dead_id}").json())
    submission = ("code", "stdin", "language", "priority", "timeout_seconds", "memory_mb", "image")
    assert again.model_dump(include=set(submission)) == dead.model_dump(include=set(submission))
    assert (again.status, again.attempts, again.id != dead.id) == (_S.QUEUED, 0, True)
    assert dead.status is _S.FAILED
    assert _dead_letters(client)[0].requeued_as == again.id
    assert [e["status"] for e in client.get(f"/evaluations/{again.id}/events").json()] == ["queued"]

    second = client.post(f"/dead-letters/{letter.id}/requeue")
    assert (second.status_code, second.json()) == (
        409,
        {"detail": f"dead letter {letter.id} was requeued already, as {again.id}"},
    )


@pytest.mark.parametrize("dead_letter_id", [str(uuid4()), "not-a-uuid"])
def test_an_unknown_dead_letter_is_404(client: TestClient, dead_letter_id: str) -> None:
    response = client.post(f"/dead-letters/{dead_letter_id}/requeue")

    assert (response.status_code, response.json()) == (
        404,
        {"detail": f"dead letter {dead_letter_id} not found"},
    )
