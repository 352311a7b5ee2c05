"""Each key's backlog (evaluations accepted, not yet finished), bounded by its `max_queued`.

Counted in Redis, atomically (`admit_backlog.lua`), so that one key's
concurrent submissions neither serialize nor slip past the bound together.
The database stays the truth: a counter that is missing (a new Redis) is set
from it, and so is one about to refuse, so a counter that drifted (a crash
between a commit and its count) never refuses what the database would admit.
Without Redis the bound is checked against the database alone.
"""

import logging
import math
import time
from collections.abc import Callable
from importlib.resources import files

from redis.exceptions import RedisError

from crucible_shared import redis_keys
from crucible_shared.redis_client import bounded_redis

_log = logging.getLogger(__name__)
_TIMEOUT_SECONDS = 0.25
_WINDOW_SECONDS = 10
_PACE_WINDOWS = 6
# When nothing has finished lately there is no pace to go by: a look again
# soon costs little.
_UNKNOWN_PACE_RETRY_SECONDS = 5
# A counter that is missing stays missing: set from the database at its next
# admission, rather than started below zero.
_RELEASE = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECRBY', KEYS[1], ARGV[1]) end
if ARGV[3] == '1' then
  redis.call('INCRBY', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
"""


class BacklogFull(Exception):
    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class Backlog:
    def __init__(self, redis_url: str) -> None:
        self._redis = bounded_redis(
            redis_url, timeout=_TIMEOUT_SECONDS, connect_timeout=_TIMEOUT_SECONDS
        )
        self._admit = self._redis.register_script(
            (files("crucible_storage") / "admit_backlog.lua").read_text()
        )
        self._release = self._redis.register_script(_RELEASE)

    def close(self) -> None:
        self._redis.close()

    def admit(self, owner: str, count: int, bound: int, active: Callable[[], int]) -> None:
        """Counts `count` more for `owner`, or raises `BacklogFull`; `active`
        counts the owner's unfinished evaluations in the database."""
        counter = redis_keys.key_active(owner)
        try:
            answer = int(self._admit(keys=[counter], args=[count, bound]))
            if answer >= 0:
                return
            # Unknown, or about to refuse: ask the database, then once more.
            self._redis.set(counter, active())
            answer = int(self._admit(keys=[counter], args=[count, bound]))
            if answer >= 0:
                return
            backlog = -2 - answer
        except RedisError as exc:
            _log.warning("backlog counter unavailable, counting in the database: %s", exc)
            backlog = active()
            if backlog + count <= bound:
                return
        raise BacklogFull(
            f"this key may have {bound} evaluations accepted and not yet finished; "
            f"it has {backlog}, and these {count} would exceed that",
            self._retry_after(backlog + count - bound),
        )

    def release(self, owner: str, count: int = 1, *, finished: bool = True) -> None:
        """`count` of the owner's evaluations finished, or (`finished` false) were never stored."""
        try:
            self._release(
                keys=[redis_keys.key_active(owner), redis_keys.finished_in(_window())],
                args=[count, _WINDOW_SECONDS * (_PACE_WINDOWS + 1), int(finished)],
            )
        except RedisError as exc:
            _log.warning("backlog counter unavailable: %s", exc)

    def _retry_after(self, excess: int) -> int:
        """When `excess` of the key's backlog will have finished, at the pace
        the platform has finished evaluations over the last minute."""
        now = _window()
        try:
            counts = self._redis.mget(
                [redis_keys.finished_in(now - n) for n in range(1, _PACE_WINDOWS + 1)]
            )
        except RedisError:
            return _UNKNOWN_PACE_RETRY_SECONDS
        finished = sum(int(count) for count in counts if count is not None)
        if finished == 0:
            return _UNKNOWN_PACE_RETRY_SECONDS
        per_second = finished / (_WINDOW_SECONDS * _PACE_WINDOWS)
        return max(1, math.ceil(excess / per_second))


def _window() -> int:
    return int(time.time()) // _WINDOW_SECONDS
