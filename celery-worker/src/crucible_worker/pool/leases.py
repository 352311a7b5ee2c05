"""Claiming and releasing executor slots: each step one Lua script, so it is atomic."""

import time
import uuid
from dataclasses import dataclass
from importlib.resources import files

from redis import Redis

from crucible_shared import redis_keys


def _script(name: str) -> str:
    return files(__package__).joinpath(name).read_text()


@dataclass(frozen=True)
class Lease:
    token: str
    executor_id: str
    executor_url: str
    evaluation_id: str


class ExecutorPool:
    def __init__(self, redis: Redis, lease_ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl_ms = int(lease_ttl_seconds * 1000)
        self._claim = redis.register_script(_script("claim_slot.lua"))
        self._release = redis.register_script(_script("release_lease.lua"))
        self._renew = redis.register_script(_script("renew_lease.lua"))

    def claim_slot(self, evaluation_id: str) -> Lease | None:
        """A slot on the live executor with the most free, or None when all are full."""
        token = uuid.uuid4().hex
        claimed = self._claim(
            keys=[redis_keys.EXECUTORS],
            args=[_now_ms(), self._ttl_ms, token, evaluation_id, redis_keys.PREFIX],
        )
        if claimed is None:
            return None
        executor_id, url = (part.decode() for part in claimed)
        return Lease(token, executor_id, url, evaluation_id)

    def release_lease(self, lease: Lease) -> bool:
        """False when there was nothing to release: released before, or expired."""
        released = self._release(
            keys=[redis_keys.lease(lease.token), redis_keys.LEASE_DOUBLE_RELEASES],
            args=[lease.token, redis_keys.PREFIX],
        )
        return bool(released)

    def renew_lease(self, lease: Lease) -> bool:
        """False when the lease was lost and its slot may already serve another."""
        renewed = self._renew(
            keys=[redis_keys.lease(lease.token)],
            args=[_now_ms(), self._ttl_ms, lease.token, redis_keys.PREFIX],
        )
        return bool(renewed)

    def evict(self, executor_id: str) -> None:
        """Takes an executor out of the pool until its next heartbeat says it is back."""
        self._redis.delete(redis_keys.executor_alive(executor_id))

    def is_held(self, evaluation_id: str) -> bool:
        """Whether some worker holds a live lease for this evaluation."""
        return bool(self._redis.exists(redis_keys.evaluation_lease(evaluation_id)))

    def mark_taken(self, evaluation_id: str, seconds: float) -> None:
        """Says that a worker has the evaluation's message though no lease yet,
        for the `seconds` it will wait (for a slot, or a retry's countdown)
        and a lease's lifetime more: the message is in no queue meanwhile,
        and the reaper must not send another. A dead worker's mark runs out."""
        self._redis.set(
            redis_keys.evaluation_taken(evaluation_id), 1, px=int(seconds * 1000) + self._ttl_ms
        )

    def is_taken(self, evaluation_id: str) -> bool:
        """Whether a worker has said, recently enough, that it has the message."""
        return bool(self._redis.exists(redis_keys.evaluation_taken(evaluation_id)))


def _now_ms() -> int:
    return int(time.time() * 1000)
