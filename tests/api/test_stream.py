"""`GET /api/evaluations/{id}/stream` on the real API and storage services, with a real Redis.

The tests write transitions through the storage service and publish on the
evaluation's channel themselves, as the storage service does after a commit.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis

from crucible_api.auth import make_key
from crucible_shared import redis_keys
from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority
from crucible_shared.pool.ready import ReadyQueue
from crucible_shared.schemas.evaluations import EvaluationCreate, EvaluationUpdate
from crucible_shared.schemas.keys import ApiKeyCreate, Role
from crucible_shared.settings import StorageClientSettings
from crucible_shared.storage_client import StorageClient
from tests.support.ports import free_port
from tests.support.servers import RedisServer, redis_server
from tests.support.uvicorn import uvicorn_service

_S = EvaluationStatus
# Shorter than the stream's 15 s keep-alive: an update that is not pushed shows as a timeout.
_READ_TIMEOUT = httpx.Timeout(5.0, read=10.0)


@dataclass
class Services:
    api: str
    storage: StorageClient
    cache: Redis
    broker: Redis
    # Every /api route takes a key; this one is an admin's, made through storage.
    headers: dict[str, str]

    def stream(self, evaluation_id: str) -> AbstractContextManager[httpx.Response]:
        url = f"{self.api}/api/evaluations/{evaluation_id}/stream"
        return httpx.stream("GET", url, headers=self.headers, timeout=_READ_TIMEOUT)

    def publish(self, evaluation_id: str, status: EvaluationStatus) -> None:
        events = self.storage.list_events(evaluation_id)
        event = next(e for e in reversed(events) if e.status is status)
        self.cache.publish(redis_keys.evaluation_updates(evaluation_id), event.model_dump_json())

    def move(self, evaluation_id: str, update: EvaluationUpdate) -> None:
        self.storage.update_evaluation(evaluation_id, update)
        self.publish(evaluation_id, update.status)


@contextmanager
def _services(tmp_path: Path, cache_redis_url: str, broker_redis_url: str) -> Iterator[Services]:
    storage_env = {
        "CRUCIBLE_DATABASE_URL": f"sqlite:///{tmp_path / 'crucible.db'}",
        "CRUCIBLE_CACHE_REDIS_URL": cache_redis_url,
    }
    with uvicorn_service(
        "crucible_storage.app:create_app", tmp_path / "storage.log", **storage_env
    ) as storage_url:
        api_env = {
            "CRUCIBLE_STORAGE_URL": storage_url,
            "CRUCIBLE_CACHE_REDIS_URL": cache_redis_url,
            "CRUCIBLE_BROKER_URL": broker_redis_url,
            "CRUCIBLE_POOL_REDIS_URL": broker_redis_url,
        }
        with uvicorn_service(
            "crucible_api.app:create_app", tmp_path / "api.log", **api_env
        ) as api_url:
            storage = StorageClient(StorageClientSettings(storage_url=storage_url))
            cache = Redis.from_url(cache_redis_url)
            broker = Redis.from_url(broker_redis_url)
            key = make_key(ApiKeyCreate(name="stream-tests", role=Role.ADMIN), storage).key
            try:
                yield Services(api_url, storage, cache, broker, {"Authorization": f"Bearer {key}"})
            finally:
                storage.close()
                cache.close()
                broker.close()


@pytest.fixture(scope="module")
def services(redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    base = f"redis://127.0.0.1:{redis.port}"
    with _services(tmp_path_factory.mktemp("stream"), f"{base}/2", f"{base}/0") as running:
        yield running


@pytest.fixture(scope="module")
def services_without_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """The API's cache Redis is a port where nothing listens."""
    nowhere = f"redis://127.0.0.1:{free_port()}"
    with _services(tmp_path_factory.mktemp("no-redis"), f"{nowhere}/2", f"{nowhere}/0") as running:
        yield running


def _sse_events(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs; comments (keep-alives) are skipped."""
    name, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)


def _statuses_seen(
    services: Services, evaluation_id: str, after_first: Callable[[], None]
) -> list[str]:
    """The statuses the stream sends until it ends; `after_first` runs once the first is seen."""
    statuses = []
    with services.stream(evaluation_id) as response:
        for _, data in _sse_events(response.iter_lines()):
            statuses.append(json.loads(data)["status"])
            if len(statuses) == 1:
                after_first()
    return statuses


def _new_evaluation(services: Services) -> str:
    return services.storage.create_evaluation(EvaluationCreate(code="print('hi')")).id


def _completed() -> EvaluationUpdate:
    return EvaluationUpdate(
        status=_S.COMPLETED, outcome=Outcome.SUCCESS, exit_code=0, stdout="hi\n", duration_ms=3
    )


def test_an_unknown_evaluation_is_a_404(services: Services) -> None:
    response = httpx.get(
        f"{services.api}/api/evaluations/no-such-id/stream", headers=services.headers
    )

    assert response.status_code == 404
    assert "no-such-id" in response.json()["detail"]


def test_the_stream_sends_each_change_and_ends_after_the_terminal_one(
    services: Services,
) -> None:
    evaluation_id = _new_evaluation(services)
    statuses = []
    with services.stream(evaluation_id) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        next_moves = iter(
            [
                EvaluationUpdate(status=_S.PROVISIONING),
                EvaluationUpdate(status=_S.RUNNING, executor="executor-1"),
                _completed(),
            ]
        )
        for name, data in _sse_events(response.iter_lines()):
            assert name == "evaluation"
            evaluation = json.loads(data)
            assert evaluation["id"] == evaluation_id
            statuses.append(evaluation["status"])
            # The next transition only once this one was seen, so none is coalesced.
            move = next(next_moves, None)
            if move is not None:
                services.move(evaluation_id, move)
    # The loop ends because the server closed the stream after `completed`.
    assert statuses == ["queued", "provisioning", "running", "completed"]
    assert evaluation["stdout"] == "hi\n"
    assert evaluation["outcome"] == "success"


def test_a_message_triggers_a_read_so_a_duplicate_sends_nothing_new(services: Services) -> None:
    evaluation_id = _new_evaluation(services)
    services.move(evaluation_id, EvaluationUpdate(status=_S.PROVISIONING))
    services.move(evaluation_id, EvaluationUpdate(status=_S.RUNNING))

    def repeat_then_complete() -> None:
        # A repeated message about the same transition changes nothing to show...
        services.publish(evaluation_id, _S.RUNNING)
        # ...and the real one after it is shown once.
        services.move(evaluation_id, _completed())

    statuses = _statuses_seen(services, evaluation_id, repeat_then_complete)
    assert statuses == ["running", "completed"]


def test_a_queued_evaluation_s_place_in_line_is_sent_as_it_moves(services: Services) -> None:
    evaluation_id = _new_evaluation(services)
    ready = ReadyQueue(services.broker)  # the pool Redis, here the broker's
    ready.enqueue([evaluation_id], owner="stream-tests", priority=Priority.NORMAL)
    positions = []
    with services.stream(evaluation_id) as response:
        for _, data in _sse_events(response.iter_lines()):
            positions.append(json.loads(data)["queue_position"])
            if len(positions) == 1:
                # A retry goes ahead of it: its place changes with no
                # transition of its own, and nothing on its channel.
                ready.enqueue(
                    ["retry"], owner="stream-tests", priority=Priority.NORMAL, where="front"
                )
            elif len(positions) == 2:
                services.move(evaluation_id, EvaluationUpdate(status=_S.CANCELLED))

    assert positions == [1, 2, None]


def test_a_finished_evaluation_is_sent_once_and_the_stream_ends(services: Services) -> None:
    evaluation_id = _new_evaluation(services)
    services.move(evaluation_id, EvaluationUpdate(status=_S.CANCELLED, detail="test"))

    with services.stream(evaluation_id) as response:
        events = list(_sse_events(response.iter_lines()))

    assert [json.loads(data)["status"] for _, data in events] == ["cancelled"]


def test_without_redis_the_stream_polls_storage_instead(services_without_redis: Services) -> None:
    services = services_without_redis
    evaluation_id = _new_evaluation(services)

    def cancel() -> None:
        # Nothing to publish on: the stream must notice the change by itself.
        services.storage.update_evaluation(
            evaluation_id, EvaluationUpdate(status=_S.CANCELLED, detail="test")
        )

    statuses = _statuses_seen(services, evaluation_id, cancel)
    assert statuses == ["queued", "cancelled"]


def test_when_redis_goes_away_mid_stream_the_stream_carries_on_by_polling(
    tmp_path: Path,
) -> None:
    with (
        redis_server() as own_redis,
        _services(
            tmp_path,
            f"redis://127.0.0.1:{own_redis.port}/2",
            f"redis://127.0.0.1:{own_redis.port}/0",
        ) as services,
    ):
        evaluation_id = _new_evaluation(services)
        services.move(evaluation_id, EvaluationUpdate(status=_S.PROVISIONING))
        services.move(evaluation_id, EvaluationUpdate(status=_S.RUNNING))

        def stop_redis_then_complete() -> None:
            own_redis.stop()
            services.storage.update_evaluation(evaluation_id, _completed())

        statuses = _statuses_seen(services, evaluation_id, stop_redis_then_complete)
    assert statuses == ["running", "completed"]
