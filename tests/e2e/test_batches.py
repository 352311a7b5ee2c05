"""Batches through the front door: submitted in one request (gzip too), followed,
read back as NDJSON without loss or repetition, and cancelled; and `?wait=`."""

import gzip
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crucible_shared import limits
from tests.support.platform import Platform

pytestmark = pytest.mark.e2e

_TERMINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="module")
def roomy(platform: Platform) -> Iterator[httpx.Client]:
    """A client with an admin key whose quotas hold a large batch."""
    key = platform.new_key(
        "admin",
        "roomy",
        f"--max-running={limits.MAX_RUNNING_PER_KEY.maximum}",
        f"--submissions-per-minute={limits.SUBMISSIONS_PER_MINUTE.maximum}",
    )
    with httpx.Client(
        base_url=platform.front_door_url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    ) as client:
        yield client


def _submit(client: httpx.Client, items: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    response = client.post("/api/batches", json={"items": items, **fields})
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _results(client: httpx.Client, batch_id: str, **params: Any) -> list[dict[str, Any]]:
    with client.stream("GET", f"/api/batches/{batch_id}/results", params=params) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("application/x-ndjson")
        return [json.loads(line) for line in response.iter_lines() if line]


# 1,640 runs: minutes on a machine shared with other work.
@pytest.mark.timeout(900)
def test_a_batch_of_1640_runs_and_its_results_come_back_in_one_call(
    roomy: httpx.Client,
) -> None:
    items = [
        {"code": f"print({n} * 2)", "label": f"HumanEval/{n // 10}#{n % 10}"} for n in range(1640)
    ]

    batch = _submit(roomy, items, label="humaneval-shaped")
    lines = _results(roomy, batch["id"], wait="true")

    assert (batch["accepted"], batch["rejected"]) == (1640, 0)
    assert [item["label"] for item in batch["items"]] == [item["label"] for item in items]
    assert len(lines) == 1640
    assert len({line["id"] for line in lines}) == 1640
    assert {line["id"] for line in lines} == {item["id"] for item in batch["items"]}
    assert all(line["batch_id"] == batch["id"] for line in lines)
    by_label = {line["label"]: line for line in lines}
    assert by_label["HumanEval/17#3"]["stdout"] == f"{173 * 2}\n"
    assert {line["outcome"] for line in lines} == {"success"}
    # In the order their finishes were stored (a finish's time is taken just before).
    places = [int(line["cursor"]) for line in lines]
    assert places == sorted(places) and len(set(places)) == 1640
    progress = roomy.get(f"/api/batches/{batch['id']}").json()
    assert progress["done"] and progress["total"] == progress["finished"] == 1640
    assert progress["by_status"] == {"completed": 1640}
    assert progress["by_outcome"] == {"success": 1640}
    assert progress["label"] == "humaneval-shaped"
    assert progress["started_at"] <= progress["finished_at"]


def test_results_resume_after_a_cursor_without_loss_or_repetition(roomy: httpx.Client) -> None:
    batch = _submit(roomy, [{"code": f"print({n})"} for n in range(30)])
    everything = _results(roomy, batch["id"], wait="true")

    resumed = _results(roomy, batch["id"], cursor=everything[11]["cursor"])

    assert [line["id"] for line in resumed] == [line["id"] for line in everything[12:]]
    assert _results(roomy, batch["id"], cursor=everything[-1]["cursor"]) == []
    refused = roomy.get(f"/api/batches/{batch['id']}/results", params={"cursor": "x"})
    assert refused.status_code == 422 and "cursor" in refused.json()["detail"]


def test_without_wait_the_results_end_with_what_has_finished(roomy: httpx.Client) -> None:
    batch = _submit(roomy, [{"code": "print('quick')"}, {"code": "import time; time.sleep(30)"}])
    quick, slow = (item["id"] for item in batch["items"])
    assert roomy.get(f"/api/evaluations/{quick}", params={"wait": 30}).json()["status"] in _TERMINAL

    started = time.monotonic()
    lines = _results(roomy, batch["id"])

    assert [line["id"] for line in lines] == [quick]
    assert time.monotonic() - started < 10
    roomy.post(f"/api/evaluations/{slow}/cancel")


def test_invalid_items_are_reported_by_index_and_field(roomy: httpx.Client) -> None:
    items = [
        {"code": "print('fine')"},
        {"code": "print(1)", "timeout_seconds": 10_000},
        {"code": ""},
        {"code": "print(2)", "label": "x" * (limits.MAX_LABEL_CHARS + 1)},
        {"code": "print(3)", "surprise": True},
    ]

    batch = _submit(roomy, items)

    assert (batch["accepted"], batch["rejected"]) == (1, 4)
    first, *rejected = batch["items"]
    assert first["id"] is not None and first["errors"] == []
    assert [item["index"] for item in rejected] == [1, 2, 3, 4]
    assert all(item["id"] is None for item in rejected)
    for item, field in zip(rejected, ["timeout_seconds", "code", "label", "surprise"], strict=True):
        assert any(error.startswith(field) for error in item["errors"]), item
    assert "900" in rejected[0]["errors"][0]
    assert roomy.get(f"/api/batches/{batch['id']}").json()["total"] == 1


def test_a_batch_beyond_the_bound_or_empty_is_refused_naming_it(roomy: httpx.Client) -> None:
    too_many = [{"code": "print(1)"}] * (limits.MAX_BATCH_ITEMS + 1)

    over = roomy.post("/api/batches", json={"items": too_many})
    empty = roomy.post("/api/batches", json={"items": []})

    assert over.status_code == 422
    assert str(limits.MAX_BATCH_ITEMS) in json.dumps(over.json()["detail"])
    assert empty.status_code == 422


def test_a_gzip_body_is_accepted_and_a_bad_one_gets_400(roomy: httpx.Client) -> None:
    items = [{"code": f"print({n})", "label": f"z{n}"} for n in range(50)]
    body = gzip.compress(json.dumps({"items": items}).encode())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}

    accepted = roomy.post("/api/batches", content=body, headers=headers)
    broken = roomy.post("/api/batches", content=b"\x1f\x8b not gzip at all", headers=headers)
    cut = roomy.post("/api/batches", content=body[: len(body) // 2], headers=headers)

    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == 50
    assert broken.status_code == 400 and "gzip" in broken.json()["detail"]
    assert cut.status_code == 400 and "gzip" in cut.json()["detail"]


def test_the_body_limit_is_per_item_not_for_the_batch(roomy: httpx.Client) -> None:
    # Each item near the 1 MiB code limit: together far above the 2 MiB body limit.
    code = "#" + "x" * (limits.MAX_CODE_BYTES - 20) + "\nprint(1)"
    items = [{"code": code}] * 4 + [{"code": code + "y" * 40}]
    body = gzip.compress(json.dumps({"items": items}).encode())

    response = roomy.post(
        "/api/batches",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )

    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 4
    assert "code" in response.json()["items"][4]["errors"][0]
    for item in response.json()["items"][:4]:
        roomy.post(f"/api/evaluations/{item['id']}/cancel")


def test_cancelling_a_batch_stops_what_is_queued_or_running(roomy: httpx.Client) -> None:
    batch = _submit(roomy, [{"code": "import time; time.sleep(60)"} for _ in range(12)])

    cancelled = roomy.post(f"/api/batches/{batch['id']}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["done"] and cancelled.json()["by_status"] == {"cancelled": 12}
    lines = _results(roomy, batch["id"], wait="true")
    assert sorted(line["id"] for line in lines) == sorted(i["id"] for i in batch["items"])


def test_batches_are_seen_as_evaluations_are(platform: Platform, roomy: httpx.Client) -> None:
    alice = platform.new_key("researcher", "alice-batches")
    viewer = platform.new_key("viewer", "vic-batches")
    with (
        httpx.Client(
            base_url=platform.front_door_url, headers={"Authorization": f"Bearer {alice}"}
        ) as a,
        httpx.Client(
            base_url=platform.front_door_url, headers={"Authorization": f"Bearer {viewer}"}
        ) as v,
    ):
        hers = _submit(a, [{"code": "print('hers')"}])
        admins = _submit(roomy, [{"code": "print('admin')"}])

        assert a.get(f"/api/batches/{admins['id']}").status_code == 404
        assert a.get(f"/api/batches/{admins['id']}/results").status_code == 404
        assert a.post(f"/api/batches/{admins['id']}/cancel").status_code == 404
        assert [b["id"] for b in a.get("/api/batches").json()["items"]] == [hers["id"]]
        assert v.get(f"/api/batches/{hers['id']}").status_code == 200
        assert v.post("/api/batches", json={"items": [{"code": "print(1)"}]}).status_code == 403
        assert v.post(f"/api/batches/{hers['id']}/cancel").status_code == 403
        listed = roomy.get("/api/batches", params={"limit": 200}).json()["items"]
        assert {hers["id"], admins["id"]} <= {b["id"] for b in listed}
        evaluations = a.get("/api/evaluations", params={"batch_id": hers["id"]}).json()["items"]
        assert [e["id"] for e in evaluations] == [hers["items"][0]["id"]]


def test_a_get_that_waits_answers_when_the_evaluation_finishes(roomy: httpx.Client) -> None:
    # High priority: ahead of what other tests left queued on the shared platform.
    evaluation = roomy.post(
        "/api/evaluations",
        json={"code": "import time; time.sleep(1.5); print('late')", "priority": "high"},
    ).json()

    waited = roomy.get(f"/api/evaluations/{evaluation['id']}", params={"wait": 60})
    answered = datetime.now(UTC)

    assert waited.status_code == 200
    assert waited.json()["status"] == "completed" and waited.json()["stdout"] == "late\n"
    finished = datetime.fromisoformat(waited.json()["finished_at"])
    assert answered - finished < timedelta(seconds=3), "answered on the change"


def test_a_get_that_waits_gives_the_current_state_at_the_deadline(roomy: httpx.Client) -> None:
    evaluation = roomy.post(
        "/api/evaluations", json={"code": "import time; time.sleep(30)", "priority": "high"}
    ).json()

    started = time.monotonic()
    waited = roomy.get(f"/api/evaluations/{evaluation['id']}", params={"wait": 1})

    assert 1 <= time.monotonic() - started < 5
    assert waited.json()["status"] not in _TERMINAL
    roomy.post(f"/api/evaluations/{evaluation['id']}/cancel")


@pytest.mark.parametrize("wait", ["0", "-1", "61", "soon"])
def test_a_wait_out_of_bounds_is_refused_naming_it(roomy: httpx.Client, wait: str) -> None:
    evaluation = roomy.post("/api/evaluations", json={"code": "print(1)"}).json()

    response = roomy.get(f"/api/evaluations/{evaluation['id']}", params={"wait": wait})

    assert response.status_code == 422
    assert "wait" in json.dumps(response.json()["detail"])
