"""What the pool Redis knows about workers and executors."""

import time

from crucible_shared import redis_keys
from crucible_shared.executor_registry import pool_status
from crucible_shared.lifecycle import Priority
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.queue import QueueOverview
from crucible_shared.settings import PoolSettings


class Fleet:
    def __init__(self, settings: PoolSettings) -> None:
        self._redis = bounded_redis(settings.pool_redis_url)
        self._worker_ttl = settings.worker_heartbeat_ttl_seconds

    def overview(self, depths: dict[Priority, int]) -> QueueOverview:
        executors = pool_status(self._redis)
        live = [executor for executor in executors if executor.alive]
        workers = self._redis.zcount(redis_keys.WORKERS, time.time() - self._worker_ttl, "+inf")
        return QueueOverview(
            depths=depths,
            workers_online=workers,
            executors=executors,
            slots_total=sum(executor.capacity for executor in live),
            leases_held=sum(executor.slots_in_use for executor in executors),
            lease_double_releases=int(self._redis.get(redis_keys.LEASE_DOUBLE_RELEASES) or 0),
        )

    def close(self) -> None:
        self._redis.close()
