from collections.abc import Iterator

import pytest
from redis import Redis

from crucible_shared.executor_registry import register_executor
from tests.support.servers import RedisServer


@pytest.fixture
def pool_redis(redis: RedisServer) -> Iterator[Redis]:
    client = Redis.from_url(redis.url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def add_executor(redis: Redis, executor_id: str, capacity: int, ttl: float = 30) -> None:
    register_executor(
        redis,
        executor_id=executor_id,
        url=f"http://{executor_id}.test",
        backend="process",
        cgroup="v1",
        capacity=capacity,
        ttl_seconds=ttl,
    )
