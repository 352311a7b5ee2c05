"""Batches on every backend: stored with their evaluations, counted, and read
back in the order their evaluations finished."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis as redis_py
from fastapi.testclient import TestClient

from crucible_shared import redis_keys
from crucible_shared.ids import new_id
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.batches import BatchProgress, FinishedPage, StoredBatch
from crucible_storage import service
from tests.storage.factories import move
from tests.support.servers import RedisServer

_S = EvaluationStatus


def _create(client: TestClient, count: int, **fields: Any) -> StoredBatch:
    submissions = [{"code": f"print({n})", "label": f"item/{n}"} for n in range(count)]
    response = client.post("/batches", json={"submissions": submissions, **fields})
    assert response.status_code == 201, response.text
    return StoredBatch.model_validate(response.json())


def _finish(client: TestClient, evaluation_id: str, outcome: str = "success") -> None:
    move(client, evaluation_id, _S.PROVISIONING)
    move(client, evaluation_id, _S.RUNNING)
    move(client, evaluation_id, _S.COMPLETED, outcome=outcome)


def _progress(client: TestClient, batch_id: str) -> BatchProgress:
    response = client.get(f"/batches/{batch_id}")
    assert response.status_code == 200, response.text
    return BatchProgress.model_validate(response.json())


def _finished(client: TestClient, batch_id: str, **params: Any) -> FinishedPage:
    response = client.get(f"/batches/{batch_id}/finished", params=params)
    assert response.status_code == 200, response.text
    return FinishedPage.model_validate(response.json())


def test_a_batch_is_stored_with_its_evaluations_labelled(client: TestClient) -> None:
    owner = new_id()
    stored = _create(client, 3, owner=owner, label="HumanEval")

    assert stored.batch.total == 3
    assert (stored.batch.owner, stored.batch.label) == (owner, "HumanEval")
    assert [e.label for e in stored.evaluations] == ["item/0", "item/1", "item/2"]
    assert {e.batch_id for e in stored.evaluations} == {stored.batch.id}
    one = client.get(f"/evaluations/{stored.evaluations[1].id}").json()
    assert (one["label"], one["batch_id"]) == ("item/1", stored.batch.id)


def test_lists_and_counts_filter_by_batch(client: TestClient) -> None:
    mine = _create(client, 3)
    _create(client, 2)
    client.post("/evaluations", json={"code": "print('alone')"})

    listed = client.get("/evaluations", params={"batch_id": mine.batch.id}).json()["items"]
    counted = client.get("/evaluations/count", params={"batch_id": mine.batch.id}).json()

    assert {e["id"] for e in listed} == {e.id for e in mine.evaluations}
    assert counted == {"count": 3}


def test_progress_counts_by_status_and_outcome(client: TestClient) -> None:
    stored = _create(client, 4)
    first, second, third, _ = (e.id for e in stored.evaluations)
    fresh = _progress(client, stored.batch.id)
    assert fresh.by_status == {_S.QUEUED: 4}
    assert (fresh.finished, fresh.done, fresh.started_at) == (0, False, None)

    _finish(client, first)
    _finish(client, second, outcome="timeout")
    move(client, third, _S.PROVISIONING)
    midway = _progress(client, stored.batch.id)

    assert midway.by_status == {_S.COMPLETED: 2, _S.PROVISIONING: 1, _S.QUEUED: 1}
    assert midway.by_outcome == {"success": 1, "timeout": 1}
    assert (midway.finished, midway.done, midway.finished_at) == (2, False, None)
    assert midway.started_at is not None


def test_a_batch_is_done_when_every_evaluation_is_terminal(client: TestClient) -> None:
    stored = _create(client, 2)
    _finish(client, stored.evaluations[0].id)
    move(client, stored.evaluations[1].id, _S.CANCELLED)

    done = _progress(client, stored.batch.id)

    assert (done.finished, done.done) == (2, True)
    assert done.by_status == {_S.COMPLETED: 1, _S.CANCELLED: 1}
    assert done.finished_at is not None


def test_results_come_in_the_order_they_finished_and_resume_from_a_cursor(
    client: TestClient,
) -> None:
    stored = _create(client, 5)
    order = [stored.evaluations[n].id for n in (3, 0, 4)]
    for evaluation_id in order:
        _finish(client, evaluation_id)

    first = _finished(client, stored.batch.id, limit=2)
    rest = _finished(client, stored.batch.id, cursor=first.items[-1].cursor)

    assert [e.id for e in first.items] == order[:2]
    assert [e.id for e in rest.items] == order[2:]
    assert rest.items[0].status is _S.COMPLETED and rest.items[0].code == "print(4)"
    # Nothing after the last one, until another finishes.
    assert _finished(client, stored.batch.id, cursor=rest.items[-1].cursor).items == []
    move(client, stored.evaluations[1].id, _S.CANCELLED)
    later = _finished(client, stored.batch.id, cursor=rest.items[-1].cursor)
    assert [e.id for e in later.items] == [stored.evaluations[1].id]


def test_finishes_at_once_get_every_place_once(client: TestClient) -> None:
    stored = _create(client, 24)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda e: _finish(client, e.id), stored.evaluations))

    items = _finished(client, stored.batch.id).items

    assert sorted(e.id for e in items) == sorted(e.id for e in stored.evaluations)
    assert [int(e.cursor) for e in items] == list(range(1, 25))


def test_batches_list_newest_first_for_an_owner(client: TestClient) -> None:
    owner = new_id()
    older, newer = _create(client, 1, owner=owner), _create(client, 1, owner=owner)
    _create(client, 1, owner=new_id())

    first = client.get("/batches", params={"owner": owner, "limit": 1}).json()
    second = client.get(
        "/batches", params={"owner": owner, "limit": 1, "cursor": first["next_cursor"]}
    ).json()

    assert [b["id"] for b in first["items"]] == [newer.batch.id]
    assert [b["id"] for b in second["items"]] == [older.batch.id]
    assert second["next_cursor"] is None
    assert first["items"][0]["total"] == 1


def test_unknown_batches_and_bad_cursors_are_refused(client: TestClient) -> None:
    stored = _create(client, 1)

    assert client.get(f"/batches/{new_id()}").status_code == 404
    assert client.get(f"/batches/{new_id()}/finished").status_code == 404
    assert client.get("/batches/not-an-id").status_code == 404
    refused = client.get(f"/batches/{stored.batch.id}/finished", params={"cursor": "-1"})
    assert refused.status_code == 422
    assert "cursor" in refused.json()["detail"]


def test_cancelling_a_batch_stops_only_what_is_unfinished_page_by_page(
    client: TestClient, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "_CANCEL_PAGE", 2)  # three pages for five
    owner = new_id()
    submissions = [{"code": f"print({n})", "owner": owner} for n in range(7)]
    response = client.post(
        "/batches", json={"submissions": submissions, "owner": owner, "max_queued": 7}
    )
    stored = StoredBatch.model_validate(response.json())
    done, running, *waiting = [e.id for e in stored.evaluations]
    _finish(client, done)
    move(client, running, _S.PROVISIONING)
    move(client, running, _S.RUNNING)

    answer = client.post(f"/batches/{stored.batch.id}/cancel", json={"detail": "cancelled by x"})

    assert answer.status_code == 200, answer.text
    assert sorted(answer.json()["cancelled"]) == sorted([running, *waiting])
    progress = _progress(client, stored.batch.id)
    assert progress.done and progress.by_status == {_S.COMPLETED: 1, _S.CANCELLED: 6}
    last = client.get(f"/evaluations/{running}/events").json()[-1]
    assert (last["status"], last["detail"]) == ("cancelled", "cancelled by x")
    # Every one numbered in the finish order the results stream reads.
    assert len(_finished(client, stored.batch.id).items) == 7
    # And taken off the key's backlog: only the finished one was before.
    assert redis_py.Redis.from_url(redis.url).get(redis_keys.key_active(owner)) == b"0"
    again = client.post(f"/batches/{stored.batch.id}/cancel", json={"detail": "again"})
    assert again.json()["cancelled"] == []


def test_cancelling_an_unknown_batch_is_not_found(client: TestClient) -> None:
    answer = client.post(f"/batches/{new_id()}/cancel", json={"detail": "x"})

    assert answer.status_code == 404
