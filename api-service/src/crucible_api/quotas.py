"""Per-key quotas: evaluations in flight at once, and submissions per minute."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from fastapi import HTTPException, status
from redis.exceptions import LockError, RedisError

from crucible_shared import redis_keys
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.evaluations import EvaluationFilter
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.storage_client import StorageClient

_log = logging.getLogger(__name__)
# A guess at when one of the caller's evaluations will have finished.
_RUNNING_RETRY_AFTER_SECONDS = 5
# Longest a submission holds its key's turn (a storage call is bounded by
# 10 s), and longest the next one waits for it.
_TURN_SECONDS = 15


class Quotas:
    def __init__(self, redis_url: str) -> None:
        self._redis = bounded_redis(redis_url, timeout=1, connect_timeout=1)

    def close(self) -> None:
        self._redis.close()

    @contextmanager
    def admitting(self, key: StoredKey, submissions: int, storage: StorageClient) -> Iterator[None]:
        """Counts `submissions` against the key's quotas, or refuses them with a
        429; the body is where they are stored.

        One key's submissions take turns through it: two at once would both
        count the evaluations in flight before either stored its own, and
        both pass. The turn is a Redis lock, and fails open like the counter.
        """
        turn = self._redis.lock(
            redis_keys.key_admission(key.id),
            timeout=_TURN_SECONDS,
            blocking_timeout=_TURN_SECONDS,
            sleep=0.01,
        )
        try:
            if not turn.acquire():
                raise _too_many("this key's other submissions are still being admitted", 1)
            held = True
        except RedisError as exc:
            _log.warning("admission lock unavailable: %s", exc)
            held = False
        try:
            self._admit(key, submissions, storage)
            yield
        finally:
            if held:
                # Expired meanwhile (LockError), or Redis gone: the lock's own
                # timeout frees the turn.
                with suppress(LockError, RedisError):
                    turn.release()

    def _admit(self, key: StoredKey, submissions: int, storage: StorageClient) -> None:
        in_flight = storage.count_evaluations(EvaluationFilter(owner=key.id, active=True))
        if in_flight + submissions > key.max_running:
            raise _too_many(
                f"this key may have {key.max_running} evaluations queued or running at once; "
                f"it has {in_flight}",
                _RUNNING_RETRY_AFTER_SECONDS,
            )
        minute, into = divmod(int(time.time()), 60)
        counter = redis_keys.key_submissions(key.id, minute)
        try:
            pipeline = self._redis.pipeline()
            pipeline.incrby(counter, submissions)
            pipeline.expire(counter, 120)
            made = int(pipeline.execute()[0])
        except RedisError as exc:
            # The per-minute limit fails open: a counter that is away should not
            # refuse every submission, and the in-flight quota still holds.
            _log.warning("submission counter unavailable: %s", exc)
            return
        if made > key.submissions_per_minute:
            raise _too_many(
                f"this key may submit {key.submissions_per_minute} evaluations a minute",
                60 - into,
            )


def _too_many(detail: str, retry_after: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=detail,
        headers={"Retry-After": str(retry_after)},
    )
