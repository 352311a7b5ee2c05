"""Slots on executors: taken with the evaluation they run, renewed, released."""

import uuid
from dataclasses import dataclass

from redis import Redis

from crucible_shared import redis_keys
from crucible_shared.lifecycle import Priority
from crucible_shared.pool.scripts import script


@dataclass(frozen=True)
class Lease:
    token: str
    executor_id: str
    executor_url: str
    evaluation_id: str


@dataclass(frozen=True)
class Dispatched:
    """An evaluation taken from the ready queue, with the slot it will run on."""

    lease: Lease
    owner: str
    priority: Priority


@dataclass(frozen=True)
class Busy:
    """Work waits, but no slot is free for it (or its keys are at their caps)."""


@dataclass(frozen=True)
class Empty:
    """Nothing waits; `due_ms` is when a delayed retry comes due (Redis time), if any."""

    due_ms: int | None


class ExecutorPool:
    def __init__(self, redis: Redis, lease_ttl_seconds: float) -> None:
        self._redis = redis
        self._ttl_ms = int(lease_ttl_seconds * 1000)
        self._dispatch = script(redis, "dispatch")
        self._release = script(redis, "release_lease")
        self._renew = script(redis, "renew_leases")

    def dispatch(self) -> Dispatched | Busy | Empty:
        """The next evaluation by priority and turn between keys, with a slot for it."""
        token = uuid.uuid4().hex
        answer = [
            part.decode() if isinstance(part, bytes) else part
            for part in self._dispatch(args=[redis_keys.PREFIX, self._ttl_ms, token])
        ]
        match answer:
            case ["run", evaluation_id, owner, priority, executor_id, url]:
                lease = Lease(token, executor_id, url, evaluation_id)
                return Dispatched(lease, owner, Priority(priority))
            case ["empty", due]:
                return Empty(int(due) if due else None)
            case _:
                return Busy()

    def claimed(self, evaluation_id: str) -> None:
        """Storage has answered the claim: the reaper need not put it back."""
        self._redis.zrem(redis_keys.READY_CLAIMING, evaluation_id)

    def wait_for_slot(self, timeout_seconds: float) -> None:
        """Blocks until a lease is released somewhere, or the timeout passes."""
        self._redis.blpop([redis_keys.SLOTS_FREED], timeout=timeout_seconds)

    def release_lease(self, lease_token: str) -> bool:
        """False when there was nothing to release: released before, or expired."""
        return bool(self._release(args=[redis_keys.PREFIX, lease_token]))

    def renew_leases(self, lease_tokens: list[str]) -> list[bool]:
        """For each lease, whether it was still held (and is now renewed)."""
        if not lease_tokens:
            return []
        answers = self._renew(args=[redis_keys.PREFIX, self._ttl_ms, *lease_tokens])
        return [bool(held) for held in answers]

    def evict(self, executor_id: str) -> None:
        """Takes an executor out of the pool until its next heartbeat says it is back."""
        self._redis.delete(redis_keys.executor_alive(executor_id))

    def is_held(self, evaluation_id: str) -> bool:
        """Whether a live lease runs this evaluation."""
        return bool(self._redis.exists(redis_keys.evaluation_lease(evaluation_id)))
