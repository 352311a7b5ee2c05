"""This executor's place in the pool: registered, beating, keeping its runs' leases,
and listening for cancellations.

At every beat the executor renews the lease of each run it has and kills
the run whose lease is lost, so that a run the platform has given up on
(and may have given to another executor) never goes on; and it kills the
runs cancelled meanwhile, so that a cancellation sent while it was away
from Redis still reaches it.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from redis import Redis
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError

from crucible_executor.runs import RunningEvaluations
from crucible_shared import redis_keys
from crucible_shared.executor_registry import deregister_executor, register_executor
from crucible_shared.pool.leases import ExecutorPool
from crucible_shared.pool.ready import ReadyQueue
from crucible_shared.settings import ExecutorSettings

logger = logging.getLogger(__name__)

_RECONNECT_SECONDS = 1.0


@asynccontextmanager
async def pool_membership(
    settings: ExecutorSettings, runs: RunningEvaluations, redis: Redis, *, cgroup: str
) -> AsyncIterator[None]:
    """While inside, workers can find this executor; a pool Redis that is away only delays that."""
    tasks = [
        asyncio.create_task(_beat(redis, settings, runs, cgroup)),
        asyncio.create_task(_watch_leases(settings, runs)),
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


async def _beat(
    redis: Redis, settings: ExecutorSettings, runs: RunningEvaluations, cgroup: str
) -> None:
    pool = ExecutorPool(redis, settings.lease_ttl_seconds)
    ready = ReadyQueue(redis)
    interval = min(settings.executor_heartbeat_ttl_seconds, settings.lease_ttl_seconds) / 3
    while True:
        sent_at = time.monotonic()
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
            leases = runs.leases()
            lost, cancelled = await asyncio.to_thread(_look_up, pool, ready, leases, runs.ids())
            runs.renewed([i for i in leases if i not in lost], sent_at)
            for evaluation_id in lost:
                logger.warning("evaluation %s lost its lease; sandbox killed", evaluation_id)
                runs.abort(evaluation_id, "its lease was lost: its slot may serve another run")
            for evaluation_id in cancelled:
                if runs.cancel(evaluation_id):
                    logger.info("evaluation %s was cancelled; sandbox killed", evaluation_id)
        except RedisError as exc:
            logger.warning("pool Redis unavailable, not registered: %s", exc)
        await asyncio.sleep(interval)


async def _watch_leases(settings: ExecutorSettings, runs: RunningEvaluations) -> None:
    """Kills a run before its lease can lapse unrenewed (a Redis away, a host cut
    off), however long a renewal call hangs: by then the platform may run it elsewhere."""
    interval = min(settings.executor_heartbeat_ttl_seconds, settings.lease_ttl_seconds) / 6
    while True:
        for evaluation_id in runs.unsecured():
            logger.warning(
                "evaluation %s: its lease could not be renewed; sandbox killed", evaluation_id
            )
            runs.abort(evaluation_id, "its lease could not be renewed in time")
        await asyncio.sleep(interval)


def _look_up(
    pool: ExecutorPool, ready: ReadyQueue, leases: dict[str, str], running: list[str]
) -> tuple[list[str], list[str]]:
    """Renews the leases; the runs whose lease was lost, and those cancelled."""
    held = pool.renew_leases(list(leases.values()))
    lost = [i for i, still_held in zip(leases, held, strict=True) if not still_held]
    return lost, ready.cancelled(running)


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
