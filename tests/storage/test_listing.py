"""Listing evaluations: filters, newest-first order and keyset pagination."""

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.limits import LIST_PAGE_SIZE
from crucible_shared.schemas.evaluations import Evaluation, EvaluationPage
from crucible_storage.db.models import EvaluationRow
from tests.storage.factories import move, submit, submit_in


def _list(client: TestClient, **params: Any) -> EvaluationPage:
    response = client.get("/evaluations", params=params)
    assert response.status_code == 200, response.text
    return EvaluationPage.model_validate(response.json())


def _ids(page: EvaluationPage) -> list[str]:
    return [item.id for item in page.items]


def _every_page(client: TestClient, **params: Any) -> list[EvaluationPage]:
    pages = [_list(client, **params)]
    while pages[-1].next_cursor is not None:
        pages.append(_list(client, **params, cursor=pages[-1].next_cursor))
    return pages


def _newest_first(evaluations: list[Evaluation]) -> list[str]:
    return [e.id for e in sorted(evaluations, key=lambda e: (e.created_at, e.id), reverse=True)]


def test_an_empty_store_lists_nothing(client: TestClient) -> None:
    assert _list(client) == EvaluationPage(items=[], next_cursor=None)


def test_the_list_is_newest_first_and_shows_summaries(client: TestClient) -> None:
    created = [submit(client, code=f"print({n})") for n in range(5)]

    page = _list(client)

    assert _ids(page) == [e.id for e in reversed(created)] == _newest_first(created)
    assert page.next_cursor is None
    assert "code" not in client.get("/evaluations").json()["items"][0]


def test_filters_by_status_and_priority(client: TestClient) -> None:
    queued_high = submit(client, priority="high")
    queued_low = submit(client, priority="low")
    running_high = submit_in(client, EvaluationStatus.RUNNING, priority="high")
    cancelled = move(client, submit(client).id, EvaluationStatus.CANCELLED)

    assert _ids(_list(client, status="queued")) == [queued_low.id, queued_high.id]
    assert _ids(_list(client, status="cancelled")) == [cancelled.id]
    assert _ids(_list(client, status="failed")) == []
    assert _ids(_list(client, priority="high")) == [running_high.id, queued_high.id]
    assert _ids(_list(client, status="queued", priority="high")) == [queued_high.id]


def test_since_keeps_what_was_created_at_or_after_it(client: TestClient) -> None:
    created = [submit(client) for _ in range(4)]
    moment = created[2].created_at
    later = [created[3].id, created[2].id]

    assert _ids(_list(client, since=moment.isoformat())) == later
    # The same instant, written in another time zone and without one (read as UTC).
    in_paris = moment.astimezone(timezone(timedelta(hours=2)))
    assert _ids(_list(client, since=in_paris.isoformat())) == later
    assert _ids(_list(client, since=moment.replace(tzinfo=None).isoformat())) == later
    assert _ids(_list(client, since=(moment + timedelta(days=1)).isoformat())) == []


def test_pages_cover_everything_exactly_once(client: TestClient) -> None:
    created = [submit(client) for _ in range(7)]

    pages = _every_page(client, limit=3)

    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert [i for page in pages for i in _ids(page)] == _newest_first(created)


def test_a_last_page_that_is_full_has_no_cursor(client: TestClient) -> None:
    created = [submit(client) for _ in range(4)]

    pages = _every_page(client, limit=2)

    assert [len(page.items) for page in pages] == [2, 2]
    assert [i for page in pages for i in _ids(page)] == _newest_first(created)


def test_pages_stay_right_while_evaluations_arrive(client: TestClient) -> None:
    created = [submit(client) for _ in range(7)]

    first = _list(client, limit=3)
    arrived = [submit(client) for _ in range(2)]
    second = _list(client, limit=3, cursor=first.next_cursor)
    arrived.append(submit(client))
    third = _list(client, limit=3, cursor=second.next_cursor)

    assert _ids(first) + _ids(second) + _ids(third) == _newest_first(created)
    assert third.next_cursor is None
    assert _ids(_list(client, limit=3)) == _newest_first(arrived)


def test_pages_of_a_filtered_list(client: TestClient) -> None:
    high = []
    for n in range(9):
        evaluation = submit(client, priority="high" if n % 2 else "low")
        if n % 2:
            high.append(evaluation)

    pages = _every_page(client, priority="high", limit=3)

    assert [i for page in pages for i in _ids(page)] == _newest_first(high)


def test_evaluations_created_in_the_same_instant_page_by_id(
    database_client: TestClient, engine: Engine
) -> None:
    client = database_client
    created = [submit(client) for _ in range(5)]
    instant = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(update(EvaluationRow).values(created_at=instant))

    pages = _every_page(client, limit=2)

    assert [i for page in pages for i in _ids(page)] == sorted(
        (e.id for e in created), reverse=True
    )
    assert {item.created_at for page in pages for item in page.items} == {instant}


def test_the_page_size_defaults_and_has_bounds(client: TestClient) -> None:
    for _ in range(LIST_PAGE_SIZE.default + 1):
        submit(client)

    assert len(_list(client).items) == LIST_PAGE_SIZE.default
    assert len(_list(client, limit=LIST_PAGE_SIZE.maximum).items) == LIST_PAGE_SIZE.default + 1
    for limit in (LIST_PAGE_SIZE.minimum - 1, LIST_PAGE_SIZE.maximum + 1, "ten"):
        response = client.get("/evaluations", params={"limit": limit})
        assert response.status_code == 422, limit
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64 at all!",
        "é",
        _b64("no separator"),
        _b64("2030-01-01T00:00:00+00:00|not-a-uuid"),
        _b64("2030-01-01T00:00:00|6f1e2c64-3f4b-4a4e-9d0c-2f8f3b1c2d3e"),
        _b64("yesterday|6f1e2c64-3f4b-4a4e-9d0c-2f8f3b1c2d3e"),
        _b64("0001-01-01T00:00:00+01:00|6f1e2c64-3f4b-4a4e-9d0c-2f8f3b1c2d3e"),
        _b64("a|b|c"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_malformed_cursor_is_422(client: TestClient, cursor: str) -> None:
    submit(client)

    response = client.get("/evaluations", params={"cursor": cursor})

    assert response.status_code == 422, response.text
    assert "cursor" in response.json()["detail"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "finished"),
        ("priority", "urgent"),
        ("since", "yesterday"),
    ],
)
def test_a_bad_filter_is_422(client: TestClient, name: str, value: str) -> None:
    response = client.get("/evaluations", params={name: value})

    assert response.status_code == 422, response.text
    assert name in str(response.json()["detail"])


def test_a_time_at_the_calendars_ends_bounds_as_far_as_time_goes(client: TestClient) -> None:
    # Beyond what UTC can represent once converted: clamped, not refused.
    created = submit(client)

    earliest = client.get("/evaluations", params={"since": "0001-01-01T00:00:00+01:00"})
    latest = client.get("/evaluations", params={"since": "9999-12-31T23:00:00-05:00"})

    assert [item["id"] for item in earliest.json()["items"]] == [created.id]
    assert latest.status_code == 200 and latest.json()["items"] == []
