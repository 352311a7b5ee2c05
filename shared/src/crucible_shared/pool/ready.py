"""The ready queue: evaluations waiting for a slot, one line per key and priority."""

from collections.abc import Iterable
from typing import Literal

from redis import Redis

from crucible_shared import redis_keys
from crucible_shared.lifecycle import Priority
from crucible_shared.pool.scripts import script

Where = Literal["back", "front", "later"]
# How long a cancellation is remembered: longer than anything waits.
_CANCELLATION_MEMORY_SECONDS = 7 * 24 * 3600


class ReadyQueue:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._enqueue = script(redis, "enqueue")
        self._position = script(redis, "position")

    def enqueue(
        self,
        evaluation_ids: Iterable[str],
        *,
        owner: str | None,
        priority: Priority,
        max_running: int | None = None,
        where: Where = "back",
        delay_seconds: float = 0.0,
    ) -> int:
        """Adds those not already waiting; how many were added."""
        ids = list(evaluation_ids)
        if not ids:
            return 0
        added = self._enqueue(
            args=[
                redis_keys.PREFIX,
                priority.value,
                owner or "",
                "" if max_running is None else max_running,
                where,
                int(delay_seconds * 1000),
                *ids,
            ]
        )
        return int(added)

    def position(self, evaluation_id: str) -> int | None:
        """Its place in its key's line: 1 when it is the key's next; None when not waiting."""
        found = self._position(args=[redis_keys.PREFIX, evaluation_id])
        return int(found) if found is not None else None

    def depths(self) -> dict[Priority, int]:
        counts = self._redis.hgetall(redis_keys.READY_DEPTH)
        found = {_text(key): int(value) for key, value in counts.items()}
        return {priority: max(0, found.get(priority.value, 0)) for priority in Priority}

    def waiting(self) -> int:
        return int(self._redis.hlen(redis_keys.READY_MEMBERS))

    def are_waiting(self, evaluation_ids: list[str]) -> list[bool]:
        if not evaluation_ids:
            return []
        with self._redis.pipeline(transaction=False) as pipe:
            for evaluation_id in evaluation_ids:
                pipe.hexists(redis_keys.READY_MEMBERS, evaluation_id)
            return [bool(found) for found in pipe.execute()]

    def cancel(self, evaluation_ids: list[str]) -> None:
        """Remembered, so that neither dispatch nor a running executor lets them go on."""
        if not evaluation_ids:
            return
        now = self._now()
        with self._redis.pipeline() as pipe:
            pipe.zadd(
                redis_keys.CANCELLED, {evaluation_id: now for evaluation_id in evaluation_ids}
            )
            pipe.zremrangebyscore(
                redis_keys.CANCELLED, "-inf", now - _CANCELLATION_MEMORY_SECONDS * 1000
            )
            for evaluation_id in evaluation_ids:
                pipe.publish(redis_keys.CANCELLATIONS_CHANNEL, evaluation_id)
            pipe.execute()

    def cancelled(self, evaluation_ids: list[str]) -> list[str]:
        if not evaluation_ids:
            return []
        scores = self._redis.zmscore(redis_keys.CANCELLED, evaluation_ids)
        return [i for i, score in zip(evaluation_ids, scores, strict=True) if score is not None]

    def lost_in_claiming(self) -> list[str]:
        """Ids taken by a worker that never told storage: it was lost in between."""
        now = self._now()
        found = self._redis.zrangebyscore(redis_keys.READY_CLAIMING, "-inf", now)
        lost = [_text(i) for i in found if isinstance(i, bytes | str)]
        if lost:
            self._redis.zrem(redis_keys.READY_CLAIMING, *lost)
        return lost

    def has_epoch(self) -> bool:
        """False until the reaper has filled the queue from storage since this Redis
        started: at the first start, and after a restart without persistence."""
        return bool(self._redis.exists(redis_keys.READY_EPOCH))

    def mark_epoch(self) -> None:
        self._redis.set(redis_keys.READY_EPOCH, 1)

    def _now(self) -> int:
        seconds, micros = self._redis.time()
        return int(seconds) * 1000 + int(micros) // 1000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
