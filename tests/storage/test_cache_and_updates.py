"""The Redis read cache, and the live updates published after every write."""

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from crucible_shared import redis_keys
from crucible_shared.lifecycle import EvaluationStatus
from crucible_storage.app import create_app
from crucible_storage.db.models import EvaluationRow
from tests.storage.conftest import settings_for
from tests.storage.factories import move, submit, submit_in
from tests.support.ports import free_port
from tests.support.servers import RedisServer, redis_server

_S = EvaluationStatus


def test_reads_are_served_from_the_cache_until_a_write_replaces_it(
    database_client: TestClient, engine: Engine
) -> None:
    client = database_client
    evaluation = submit(client)
    client.get(f"/evaluations/{evaluation.id}")
    # Behind the service's back: only a read that skips the database misses it.
    with engine.begin() as connection:
        connection.execute(update(EvaluationRow).values(memory_mb=999))

    cached = client.get(f"/evaluations/{evaluation.id}").json()
    moved = move(client, evaluation.id, _S.PROVISIONING)
    fresh = client.get(f"/evaluations/{evaluation.id}").json()

    assert cached["memory_mb"] == evaluation.memory_mb
    assert (moved.memory_mb, fresh["memory_mb"], fresh["status"]) == (999, 999, "provisioning")


def test_every_committed_change_is_published(client: TestClient, redis: RedisServer) -> None:
    evaluation = submit(client)
    subscriber = redis_client.Redis.from_url(redis.url).pubsub()  # type: ignore[no-untyped-call]
    subscriber.subscribe(redis_keys.evaluation_updates(evaluation.id))
    assert subscriber.get_message(timeout=5) is not None  # the subscription's confirmation

    move(client, evaluation.id, _S.PROVISIONING, detail="claimed a slot on executor-1")
    move(client, evaluation.id, _S.CANCELLED)
    client.patch(f"/evaluations/{evaluation.id}", json={"status": "running"})  # refused
    client.delete(f"/evaluations/{evaluation.id}")

    published = []
    while (message := subscriber.get_message(timeout=1)) is not None:
        published.append(json.loads(message["data"]))
    subscriber.close()
    assert [(m["sequence"], m["status"], m["detail"]) for m in published] == [
        (2, "provisioning", "claimed a slot on executor-1"),
        (3, "cancelled", None),
        (4, "cancelled", "deleted"),
    ]
    assert {m["evaluation_id"] for m in published} == {evaluation.id}


def test_a_write_the_cache_missed_is_never_hidden_by_what_it_held(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A durable Redis, like start-platform.sh's: it comes back holding the
    # version cached before it went away.
    port = free_port()
    with redis_server(port, durable_in=tmp_path) as cache:
        settings = settings_for("memory", request, tmp_path, cache_redis_url=cache.url)
        with TestClient(create_app(settings)) as client:
            evaluation = submit_in(client, _S.RUNNING)
            assert client.get(f"/evaluations/{evaluation.id}").json()["status"] == "running"
            # The hazard is real only if the cache holds that version when Redis goes.
            held = redis_client.Redis.from_url(cache.url)
            assert held.exists(redis_keys.evaluation_cache(evaluation.id))
            held.close()
            cache.process.kill()
            cache.process.wait()
            move(client, evaluation.id, _S.COMPLETED, stdout="done")
            with redis_server(port, durable_in=tmp_path):
                deadline = time.monotonic() + 15
                while True:
                    # Served from the backend while Redis rests, then from an emptied cache.
                    stored = client.get(f"/evaluations/{evaluation.id}").json()
                    assert (stored["status"], stored["stdout"]) == ("completed", "done")
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.5)


def test_a_cache_whose_name_does_not_resolve_in_time_is_skipped_not_waited_for(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A DNS server that stops answering for a while (Podman's does as it
    # reloads) cannot be had on demand; the lookup it would stall is.
    looked_up = socket.getaddrinfo
    stall_seconds = 5.0

    def stalled_lookup(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "stalled-cache":
            time.sleep(stall_seconds)
        return looked_up(
            "127.0.0.1" if host in ("stalled-cache", "cache") else host, *args, **kwargs
        )

    monkeypatch.setattr(socket, "getaddrinfo", stalled_lookup)
    by_name = {
        "stalled": f"redis://stalled-cache:{redis.port}/0",
        "prompt": f"redis://cache:{redis.port}/0",
    }
    for case, url in by_name.items():
        settings = settings_for("memory", request, tmp_path / case, cache_redis_url=url)
        with TestClient(create_app(settings)) as client:
            started = time.monotonic()
            evaluation = submit(client)
            stored = client.get(f"/evaluations/{evaluation.id}").json()
            answered_in = time.monotonic() - started
            assert stored["id"] == evaluation.id
            cached = redis_client.Redis.from_url(redis.url).exists(
                redis_keys.evaluation_cache(evaluation.id)
            )
            # Reached by name, the cache is used; stalled, it is skipped, not waited for.
            assert cached == (case == "prompt"), case
            if case == "stalled":
                assert answered_in < stall_seconds / 2, answered_in
