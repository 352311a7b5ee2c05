"""Executors announce themselves in the pool Redis; the API reads who is there.

An executor registers again at every beat: its `alive` key expires unless
renewed, so one that dies leaves the pool within one heartbeat TTL without
anybody cleaning up after it, and one that outlives a Redis restart is back
in the pool at its next beat.
"""

import time

from redis import Redis

from crucible_shared import redis_keys
from crucible_shared.schemas.queue import ExecutorStatus


def register_executor(
    redis: Redis,
    *,
    executor_id: str,
    url: str,
    backend: str,
    cgroup: str,
    capacity: int,
    ttl_seconds: float,
) -> None:
    with redis.pipeline() as pipe:
        pipe.hset(
            redis_keys.executor(executor_id),
            mapping={"url": url, "backend": backend, "cgroup": cgroup, "capacity": capacity},
        )
        pipe.sadd(redis_keys.EXECUTORS, executor_id)
        pipe.set(redis_keys.executor_alive(executor_id), 1, px=int(ttl_seconds * 1000))
        pipe.execute()


def deregister_executor(redis: Redis, *, executor_id: str) -> None:
    with redis.pipeline() as pipe:
        pipe.srem(redis_keys.EXECUTORS, executor_id)
        pipe.delete(redis_keys.executor_alive(executor_id), redis_keys.executor(executor_id))
        pipe.execute()


def pool_status(redis: Redis) -> list[ExecutorStatus]:
    now_ms = int(time.time() * 1000)
    statuses = []
    for raw_id in sorted(redis.smembers(redis_keys.EXECUTORS)):
        executor_id = _text(raw_id)
        stored = redis.hgetall(redis_keys.executor(executor_id))
        info = {_text(key): _text(value) for key, value in stored.items()}
        if not info:
            continue
        statuses.append(
            ExecutorStatus(
                id=executor_id,
                url=info["url"],
                backend=info["backend"],
                # Executors of releases before it registered none.
                cgroup=info.get("cgroup", "unknown"),
                capacity=int(info["capacity"]),
                slots_in_use=redis.zcount(redis_keys.executor_leases(executor_id), now_ms, "+inf"),
                alive=bool(redis.exists(redis_keys.executor_alive(executor_id))),
            )
        )
    return statuses


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
