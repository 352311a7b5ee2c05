"""Per-key quotas the API checks: submissions per minute, and what can never be admitted.

A key's backlog bound (`max_queued`) is checked by storage as it stores the
submissions, in the same step; its share of slots (`max_running`) is kept
by dispatch. What is left here is the brake on a runaway script.
"""

import logging
import time

from fastapi import HTTPException, status
from redis.exceptions import RedisError

from crucible_shared import redis_keys
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.keys import StoredKey

_log = logging.getLogger(__name__)


class Quotas:
    def __init__(self, redis_url: str) -> None:
        self._redis = bounded_redis(redis_url, timeout=1, connect_timeout=1)

    def close(self) -> None:
        self._redis.close()

    def admit(self, key: StoredKey, submissions: int) -> None:
        """Counts `submissions` against the key's minute, or refuses them: 422 when
        no wait could admit them, 429 with an honest `Retry-After` when one can."""
        never = _never_admitted(key, submissions)
        if never is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=never)
        minute, into = divmod(int(time.time()), 60)
        counter = redis_keys.key_submissions(key.id, minute)
        try:
            pipeline = self._redis.pipeline()
            pipeline.incrby(counter, submissions)
            pipeline.expire(counter, 120)
            made = int(pipeline.execute()[0])
        except RedisError as exc:
            # Fails open: a counter that is away should not refuse every
            # submission, and the backlog bound still holds.
            _log.warning("submission counter unavailable: %s", exc)
            return
        if made > key.submissions_per_minute:
            # Given back: refused submissions are not submissions.
            try:
                self._redis.decrby(counter, submissions)
            except RedisError as exc:
                _log.warning("submission counter unavailable: %s", exc)
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=f"this key may submit {key.submissions_per_minute} evaluations a minute; "
                f"{made - submissions} were submitted in this one",
                headers={"Retry-After": str(60 - into)},
            )


def _never_admitted(key: StoredKey, submissions: int) -> str | None:
    if submissions > key.max_queued:
        return (
            f"{submissions} submissions exceed this key's backlog bound, max_queued "
            f"{key.max_queued}: split them"
        )
    if submissions > key.submissions_per_minute:
        return (
            f"{submissions} submissions exceed this key's submissions_per_minute "
            f"{key.submissions_per_minute}: split them"
        )
    return None
