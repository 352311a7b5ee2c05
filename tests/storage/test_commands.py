"""Storage's run commands and the backlog bound, on every backend."""

from typing import Any

from fastapi.testclient import TestClient

from crucible_shared.ids import new_id
from tests.storage.factories import submit

RESULT = {
    "outcome": "success",
    "exit_code": 0,
    "stdout": "hello\n",
    "stderr": "",
    "stdout_truncated": False,
    "stderr_truncated": False,
    "duration_ms": 12,
}


def _command(client: TestClient, evaluation_id: str, name: str, **body: Any) -> Any:
    return client.post(f"/evaluations/{evaluation_id}/{name}", json=body)


def test_a_run_goes_claim_start_finish_and_keeps_its_result(client: TestClient) -> None:
    evaluation = submit(client, stdin="in")
    claim = _command(client, evaluation.id, "claim", executor="x1", max_attempts=2)
    assert claim.status_code == 200, claim.text
    assert claim.json()["attempt"] == 1
    assert claim.json()["request"]["code"] == "print('hello')"
    assert claim.json()["request"]["stdin"] == "in"

    started = _command(client, evaluation.id, "start", attempt=1, executor="x1")
    finished = _command(client, evaluation.id, "finish", attempt=1, result=RESULT)

    assert (started.json()["status"], finished.json()["status"]) == ("running", "completed")
    assert "code" not in finished.json()  # a summary, not the record
    stored = client.get(f"/evaluations/{evaluation.id}").json()
    assert (stored["stdout"], stored["outcome"], stored["attempts"]) == ("hello\n", "success", 1)
    events = client.get(f"/evaluations/{evaluation.id}/events").json()
    assert [e["status"] for e in events] == ["queued", "provisioning", "running", "completed"]


def test_a_command_of_a_stale_attempt_is_refused(client: TestClient) -> None:
    evaluation = submit(client)
    _command(client, evaluation.id, "claim", executor="x1", max_attempts=3)
    _command(client, evaluation.id, "requeue", attempt=1, reason="lost", max_attempts=3)
    assert (
        _command(client, evaluation.id, "claim", executor="x2", max_attempts=3).status_code == 200
    )

    stale = _command(client, evaluation.id, "finish", attempt=1, result=RESULT)

    assert stale.status_code == 409
    assert "attempt 2, not 1" in stale.json()["detail"]
    assert client.get(f"/evaluations/{evaluation.id}").json()["status"] == "provisioning"


def test_a_claim_of_what_is_not_queued_is_refused(client: TestClient) -> None:
    evaluation = submit(client)
    client.patch(f"/evaluations/{evaluation.id}", json={"status": "cancelled"})

    refused = _command(client, evaluation.id, "claim", executor="x1", max_attempts=3)

    assert refused.status_code == 409
    assert client.get(f"/evaluations/{evaluation.id}").json()["attempts"] == 0


def test_the_last_attempt_s_requeue_fails_it_and_keeps_a_dead_letter(client: TestClient) -> None:
    evaluation = submit(client)
    for attempt in (1, 2):
        _command(client, evaluation.id, "claim", executor="x1", max_attempts=2)
        answer = _command(
            client, evaluation.id, "requeue", attempt=attempt, reason="x\x00" * 5000, max_attempts=2
        )
    assert answer.json()["status"] == "failed"
    error = answer.json()["error"]
    assert error.startswith("gave up after 2 attempts: x")
    assert "\x00" not in error and len(error) <= 2000  # never a program's whole output
    letters = client.get("/dead-letters").json()
    assert [letter["evaluation_id"] for letter in letters] == [evaluation.id]


def test_a_backlog_bound_refuses_with_an_estimate_and_frees_as_work_finishes(
    client: TestClient,
) -> None:
    owner = new_id()
    body = [{"code": "print(1)", "owner": owner}] * 3
    assert client.post("/evaluations/batch?max_queued=4", json=body).status_code == 201

    refused = client.post("/evaluations/batch?max_queued=4", json=body[:2])
    assert refused.status_code == 429
    assert (
        "may have 4 evaluations accepted and not yet finished; it has 3" in refused.json()["detail"]
    )
    assert int(refused.headers["retry-after"]) >= 1
    assert client.post("/evaluations?max_queued=4", json=body[0]).status_code == 201

    waiting = client.get("/evaluations", params={"owner": owner}).json()["items"]
    client.patch(f"/evaluations/{waiting[0]['id']}", json={"status": "cancelled"})
    assert client.post("/evaluations?max_queued=4", json=body[0]).status_code == 201
