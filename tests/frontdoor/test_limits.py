"""Rate and connection limits per client address, on a platform whose front
door is set far stricter than the default (every other test sets them high)."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.frontdoor.support import SLEEPER, assert_security_headers
from tests.support.platform import Platform, local_platform


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    # One request a minute, after a burst: nothing in a test's time refills it.
    with local_platform(
        tmp_path_factory.mktemp("strict"),
        CRUCIBLE_RATE_API="1r/m",
        CRUCIBLE_RATE_API_BURST="9",
        CRUCIBLE_RATE_SUBMIT="1r/m",
        CRUCIBLE_RATE_SUBMIT_BURST="2",
    ) as running:
        yield running


def assert_too_many_requests(response: httpx.Response) -> None:
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == "1"
    assert "too many requests" in response.json()["detail"]
    assert_security_headers(response)


def test_bursts_over_the_submission_and_api_rates_get_429_in_json(strict: Platform) -> None:
    # Empty submissions: the API answers 422 to those that reach it.
    submissions = [strict.client.post("/api/evaluations", json={}) for _ in range(5)]

    assert [r.status_code for r in submissions] == [422, 422, 422, 429, 429]
    assert_too_many_requests(submissions[-1])

    # Submissions have their own, lower limit: reading goes on until the API's.
    reads = [strict.client.get("/api/queue").status_code for _ in range(10)]
    assert reads[0] == 200 and reads[-1] == 429
    assert reads == sorted(reads), "once refused, refused until the rate lets it through"
    assert_too_many_requests(strict.client.get("/api/queue"))

    # The general limit is another: the health check still answers.
    assert strict.client.get("/health").status_code == 200


@pytest.fixture(scope="module")
def production_rates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The front door's default rates for the API and for following (crucible-nginx.sh)."""
    with local_platform(
        tmp_path_factory.mktemp("production-rates"),
        CRUCIBLE_RATE_API="10r/s",
        CRUCIBLE_RATE_API_BURST="20",
        CRUCIBLE_RATE_FOLLOW="200r/s",
        CRUCIBLE_RATE_FOLLOW_BURST="400",
    ) as running:
        yield running


def test_requests_that_follow_are_not_counted_as_polls(production_rates: Platform) -> None:
    strict = production_rates
    evaluation_id = strict.client.post("/api/evaluations", json={"code": "print(1)"}).json()["id"]
    batch = strict.client.post("/api/batches", json={"items": [{"code": "print(2)"}]}).json()
    # Polling, 20 a second: refused once the API's burst is spent.
    # (On a schedule, from threads: one slow answer must not slow the rate.)
    start = time.monotonic()

    def poll(number: int) -> int:
        time.sleep(max(0.0, start + number * 0.05 - time.monotonic()))
        return strict.client.get(f"/api/evaluations/{evaluation_id}").status_code

    with ThreadPoolExecutor(8) as pool:
        polls = list(pool.map(poll, range(60)))
    assert 429 in polls[30:]
    # A wait under a second is a poll.
    assert_too_many_requests(
        strict.client.get(f"/api/evaluations/{evaluation_id}", params={"wait": 0.5})
    )

    # Following is not polling: these still go through, as many as a workload needs.
    for _ in range(30):
        waited = strict.client.get(f"/api/evaluations/{evaluation_id}", params={"wait": 5})
        assert waited.status_code == 200 and waited.json()["status"] == "completed"
    with strict.client.stream("GET", f"/api/batches/{batch['id']}/results?wait=true") as results:
        assert results.status_code == 200
        assert len([line for line in results.iter_lines() if line]) == 1


@pytest.fixture
def two_connections(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with local_platform(tmp_path_factory.mktemp("two"), CRUCIBLE_CONN_LIMIT="2") as running:
        yield running


def test_connections_over_the_limit_get_429_until_one_closes(two_connections: Platform) -> None:
    platform = two_connections
    evaluation_id = platform.submit(**SLEEPER)["id"]
    path = f"/api/evaluations/{evaluation_id}/stream"

    with (
        httpx.Client(base_url=platform.front_door_url, auth=platform.client.auth) as first,
        httpx.Client(base_url=platform.front_door_url, auth=platform.client.auth) as second,
        first.stream("GET", path) as first_stream,
        second.stream("GET", path) as second_stream,
    ):
        # Both streams are open once each has its first event. (Kept: a line
        # iterator that is dropped closes its response.)
        first_lines, second_lines = first_stream.iter_lines(), second_stream.iter_lines()
        assert next(first_lines) == next(second_lines) == "event: evaluation"
        third = platform.client.get("/health")

    assert_too_many_requests(third)
    # nginx lets a slot go when it sees the stream's client gone.
    deadline = time.monotonic() + 30
    while (after := platform.client.get("/health")).status_code == 429:
        assert time.monotonic() < deadline, "a closed connection was never let go"
        time.sleep(0.1)
    assert after.status_code == 200
    platform.client.post(f"/api/evaluations/{evaluation_id}/cancel")
