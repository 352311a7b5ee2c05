"""This executor's place in the pool: registered, beating, and listening for cancellations."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from crucible_executor.runs import RunningEvaluations
from crucible_shared import redis_keys
from crucible_shared.executor_registry import deregister_executor, register_executor
from crucible_shared.redis_client import bounded_redis
from crucible_shared.settings import ExecutorSettings

logger = logging.getLogger(__name__)

_RECONNECT_SECONDS = 1.0


@asynccontextmanager
async def pool_membership(
    settings: ExecutorSettings, runs: RunningEvaluations, *, cgroup: str
) -> AsyncIterator[None]:
    """While inside, workers can find this executor; a pool Redis that is away only delays that."""
    redis = bounded_redis(settings.pool_redis_url)
    tasks = [
        asyncio.create_task(_beat(redis, settings, cgroup)),
        asyncio.create_task(_listen_for_cancellations(settings, runs)),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        with suppress(RedisError):
            await asyncio.to_thread(deregister_executor, redis, executor_id=settings.executor_id)
        redis.close()


async def _beat(redis: Redis, settings: ExecutorSettings, cgroup: str) -> None:
    while True:
        try:
            await asyncio.to_thread(
                register_executor,
                redis,
                executor_id=settings.executor_id,
                url=settings.executor_url,
                backend=settings.executor_backend,
                cgroup=cgroup,
                capacity=settings.executor_capacity,
                ttl_seconds=settings.executor_heartbeat_ttl_seconds,
            )
        except RedisError as exc:
            logger.warning("pool Redis unavailable, not registered: %s", exc)
        await asyncio.sleep(settings.executor_heartbeat_ttl_seconds / 3)


async def _listen_for_cancellations(settings: ExecutorSettings, runs: RunningEvaluations) -> None:
    while True:
        redis = AsyncRedis.from_url(settings.pool_redis_url)
        try:
            async with redis.pubsub() as pubsub:
                await pubsub.subscribe(redis_keys.CANCELLATIONS_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        evaluation_id = message["data"].decode()
                        if runs.cancel(evaluation_id):
                            logger.info("evaluation %s cancelled; sandbox killed", evaluation_id)
        except (RedisError, OSError) as exc:
            logger.warning("cancellation channel lost (%s); reconnecting", exc)
            await asyncio.sleep(_RECONNECT_SECONDS)
        finally:
            await redis.aclose()
