"""Soft deletion, restoring, and purging after the retention."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from crucible_storage.app import create_app
from crucible_storage.backends import database
from tests.storage.conftest import DATABASES, settings_for
from tests.storage.factories import move, submit_in

_S = EvaluationStatus


def _ids(client: TestClient, **params: str) -> set[str]:
    return {item["id"] for item in client.get("/evaluations", params=params).json()["items"]}


def test_a_deleted_evaluation_leaves_lists_until_restored(client: TestClient) -> None:
    kept = submit_in(client, _S.COMPLETED)
    deleted = submit_in(client, _S.FAILED)

    gone = client.delete(f"/evaluations/{deleted.id}")

    assert gone.status_code == 200 and gone.json()["deleted_at"] is not None
    assert _ids(client) == {kept.id}
    assert _ids(client, include_deleted="true") == {kept.id, deleted.id}
    assert client.get("/evaluations/count").json() == {"count": 1}
    # Still readable by id, so that it can be found and restored.
    assert client.get(f"/evaluations/{deleted.id}").json()["deleted_at"] is not None

    restored = client.post(f"/evaluations/{deleted.id}/restore")

    assert restored.status_code == 200 and restored.json()["deleted_at"] is None
    assert _ids(client) == {kept.id, deleted.id}
    events = client.get(f"/evaluations/{deleted.id}/events").json()
    assert [(e["status"], e["detail"]) for e in events][-2:] == [
        ("failed", "deleted"),
        ("failed", "restored"),
    ]


@pytest.mark.parametrize("status", [_S.QUEUED, _S.PROVISIONING, _S.RUNNING])
def test_an_evaluation_in_flight_cannot_be_deleted(client: TestClient, status: _S) -> None:
    evaluation = submit_in(client, status)

    refused = client.delete(f"/evaluations/{evaluation.id}")

    assert refused.status_code == 409
    assert "cancel it before deleting it" in refused.json()["detail"]
    assert _ids(client) == {evaluation.id}


def test_deleting_an_unknown_evaluation_is_not_found(client: TestClient) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    assert client.delete(f"/evaluations/{unknown}").status_code == 404
    assert client.post(f"/evaluations/{unknown}/restore").status_code == 404


def test_purge_removes_what_was_deleted_before_the_retention_with_its_blobs(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for(backend, request, tmp_path, retention_days=0)
    with TestClient(create_app(settings)) as client:
        big = submit_in(client, _S.RUNNING)
        move(client, big.id, _S.COMPLETED, stdout="x" * 200_000)
        kept = submit_in(client, _S.COMPLETED)
        dead = submit_in(client, _S.FAILED)
        client.delete(f"/evaluations/{big.id}")
        assert client.get("/storage-info").json()["blobs"] == 1

        purged = client.post("/purge")

        assert purged.json() == {"purged": 1}
        assert client.get(f"/evaluations/{big.id}").status_code == 404
        assert client.get(f"/evaluations/{big.id}/events").status_code == 404
        info = client.get("/storage-info").json()
        assert (info["evaluations"], info["deleted"], info["blobs"]) == (2, 0, 0)
        assert _ids(client, include_deleted="true") == {kept.id, dead.id}


@pytest.mark.parametrize("backend", DATABASES)
def test_purge_takes_more_than_one_batch(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The database backend purges in batches (of 500): three of two here.
    monkeypatch.setattr(database, "_PURGE_BATCH", 2)
    settings = settings_for(backend, request, tmp_path, retention_days=0)
    with TestClient(create_app(settings)) as client:
        doomed = {submit_in(client, _S.COMPLETED).id for _ in range(5)}
        kept = submit_in(client, _S.COMPLETED)
        for evaluation_id in doomed:
            client.delete(f"/evaluations/{evaluation_id}")

        assert client.post("/purge").json() == {"purged": 5}
        assert _ids(client, include_deleted="true") == {kept.id}


def test_purge_keeps_what_was_deleted_within_the_retention(client: TestClient) -> None:
    deleted = submit_in(client, _S.COMPLETED)
    client.delete(f"/evaluations/{deleted.id}")

    assert client.post("/purge").json() == {"purged": 0}
    assert client.post(f"/evaluations/{deleted.id}/restore").status_code == 200


def test_purge_takes_dead_letters_with_their_evaluations(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = settings_for(backend, request, tmp_path, retention_days=0)
    with TestClient(create_app(settings)) as client:
        dead = submit_in(client, _S.RUNNING)
        move(client, dead.id, _S.FAILED, dead_letter=True)
        (letter,) = client.get("/dead-letters").json()
        again = client.post(f"/dead-letters/{letter['id']}/requeue").json()
        client.patch(f"/evaluations/{again['id']}", json={"status": "cancelled"})

        client.delete(f"/evaluations/{again['id']}")
        assert client.post("/purge").json() == {"purged": 1}
        (kept,) = client.get("/dead-letters").json()
        assert (kept["id"], kept["requeued_as"]) == (letter["id"], None)

        client.delete(f"/evaluations/{dead.id}")
        assert client.post("/purge").json() == {"purged": 1}
        assert client.get("/dead-letters").json() == []
