"""Filters, text and hash search, counting, statistics, batches."""

import hashlib
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.limits import MAX_BATCH_SIZE
from tests.storage.factories import move, submit, submit_in

_S = EvaluationStatus


def _ids(client: TestClient, **params: str) -> set[str]:
    page = client.get("/evaluations", params=params)
    assert page.status_code == 200, page.text
    count = client.get("/evaluations/count", params=params).json()["count"]
    ids = {item["id"] for item in page.json()["items"]}
    assert count == len(ids)
    return ids


def test_every_filter_narrows_the_list_and_the_count(client: TestClient) -> None:
    plain = submit(client, code="print('plain')")
    ml = submit(client, code="import numpy", image="ml", priority="high")
    done = submit_in(client, _S.RUNNING, code="print('100% done_')")
    move(client, done.id, _S.COMPLETED, outcome="timeout")

    assert _ids(client) == {plain.id, ml.id, done.id}
    assert _ids(client, status="queued") == {plain.id, ml.id}
    assert _ids(client, outcome="timeout") == {done.id}
    assert _ids(client, priority="high") == {ml.id}
    assert _ids(client, image="ml") == {ml.id}
    assert _ids(client, language="python") == {plain.id, ml.id, done.id}
    assert _ids(client, q="numpy") == {ml.id}
    # Searched as text: % and _ are characters, and case counts.
    assert _ids(client, q="100% done_") == {done.id}
    assert _ids(client, q="%") == {done.id}
    assert _ids(client, q="NUMPY") == set()
    sha = hashlib.sha256(b"print('plain')").hexdigest()
    assert _ids(client, code_sha256=sha) == {plain.id}
    assert _ids(client, status="queued", image="python") == {plain.id}


def test_since_and_until_bound_the_creation_time(client: TestClient) -> None:
    first = submit(client)
    second = submit(client)
    between = (second.created_at - (second.created_at - first.created_at) / 2).isoformat()

    assert _ids(client, until=between) == {first.id}
    assert _ids(client, since=between) == {second.id}
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert _ids(client, since=later) == set()


def test_a_malformed_filter_is_refused_naming_it(client: TestClient) -> None:
    for params in ({"code_sha256": "abc"}, {"outcome": "great"}, {"q": ""}, {"until": "soon"}):
        response = client.get("/evaluations", params=params)
        assert response.status_code == 422, params
        # Named where it is, not merely somewhere in the body ("query" is in every 422).
        assert response.json()["detail"][0]["loc"][-1] == next(iter(params)), response.text


def test_the_code_keeps_its_hash(client: TestClient) -> None:
    created = submit(client, code="print('é')")

    assert created.code_sha256 == hashlib.sha256("print('é')".encode()).hexdigest()


def test_statistics_count_and_time_what_finished(client: TestClient) -> None:
    submit(client, priority="low")
    for outcome in ("success", "success", "error"):
        running = submit_in(client, _S.RUNNING, priority="high")
        move(client, running.id, _S.COMPLETED, outcome=outcome)
    submit_in(client, _S.FAILED)

    report = client.get("/statistics").json()

    assert report["by_status"] == {"queued": 1, "completed": 3, "failed": 1}
    assert report["by_outcome"] == {"success": 2, "error": 1}
    assert report["finished_last_hour"] == 4
    assert sum(bucket["finished"] for bucket in report["throughput"]) == 4
    assert len(report["throughput"]) == 60
    assert report["run_time"]["count"] == 3
    assert 0 <= report["run_time"]["p50_ms"] <= report["run_time"]["p95_ms"]
    assert report["queue_wait"]["count"] == 3
    high = report["per_priority"]["high"]
    assert (high["by_status"], high["finished_last_hour"]) == ({"completed": 3}, 3)
    assert report["per_priority"]["low"]["by_status"] == {"queued": 1}


def test_counts_and_statistics_follow_every_write(client: TestClient) -> None:
    """The document backends keep these as counters updated on each write:
    a write that moves, deletes or restores must move the counts with it."""
    queued = submit(client, priority="low")
    done = submit_in(client, _S.RUNNING, priority="high")
    move(client, done.id, _S.COMPLETED, outcome="success")

    def counts() -> tuple[int, int, int, int, dict[str, int], int]:
        def count(**params: str) -> int:
            answer = client.get("/evaluations/count", params=params)
            assert answer.status_code == 200, answer.text
            number: int = answer.json()["count"]
            return number

        report = client.get("/statistics").json()
        return (
            count(),
            count(status="completed", outcome="success"),
            count(active="true"),
            count(priority="high", active="false"),
            report["by_status"],
            report["finished_last_hour"],
        )

    assert counts() == (2, 1, 1, 1, {"queued": 1, "completed": 1}, 1)
    assert client.delete(f"/evaluations/{done.id}").status_code == 200
    assert counts() == (1, 0, 1, 0, {"queued": 1}, 0)
    assert client.post(f"/evaluations/{done.id}/restore").status_code == 200
    assert counts() == (2, 1, 1, 1, {"queued": 1, "completed": 1}, 1)
    move(client, queued.id, _S.PROVISIONING)
    assert counts() == (2, 1, 1, 1, {"provisioning": 1, "completed": 1}, 1)
    move(client, queued.id, _S.FAILED)
    assert counts() == (2, 1, 0, 1, {"failed": 1, "completed": 1}, 2)


def test_a_batch_is_stored_in_order(client: TestClient) -> None:
    batch = [{"code": f"print({n})", "priority": "low"} for n in range(25)]

    response = client.post("/evaluations/batch", json=batch)

    assert response.status_code == 201, response.text
    created = response.json()
    assert len(created) == 25 and len({item["id"] for item in created}) == 25
    for n, item in enumerate(created):
        stored = client.get(f"/evaluations/{item['id']}").json()
        assert (stored["code"], stored["status"]) == (f"print({n})", "queued")


def test_a_batch_over_the_bound_is_refused_whole(client: TestClient) -> None:
    response = client.post("/evaluations/batch", json=[{"code": "1"}] * (MAX_BATCH_SIZE + 1))

    assert response.status_code == 422
    assert str(MAX_BATCH_SIZE) in response.text
    assert client.get("/evaluations/count").json() == {"count": 0}
