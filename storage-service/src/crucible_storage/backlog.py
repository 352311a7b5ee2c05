"""Each key's backlog (evaluations accepted, not yet finished), bounded by its `max_queued`.

Counted in Redis, atomically (`backlog_admit.lua`), so that one key's
concurrent submissions neither serialize nor slip past the bound together.
The database stays the truth: a counter that is missing (a new Redis) is
recounted from it, and so is one about to refuse, so a counter that drifted
high (a crash between a commit and its count) never refuses what the
database would admit. A recount must not count low: the database cannot see
admissions still being stored, so each admission is noted until it is
stored (`backlog_settle.lua`), and a finish committed before a recount is
not taken off after it (`backlog_epoch.lua`, `backlog_release.lua`).
Without Redis the bound is checked against the database alone.
"""

import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import files

from redis.commands.core import Script
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
# Longer than any store or database count takes (a request's own timeout is
# shorter): after it, a note of a storer or recounter that died is dropped.
_NOTE_TTL_SECONDS = 300
# What a finish carries when its epoch could not be read: not taken off.
_NO_EPOCH = -1


class BacklogFull(Exception):
    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class Backlog:
    def __init__(self, redis_url: str) -> None:
        self._redis = bounded_redis(
            redis_url, timeout=_TIMEOUT_SECONDS, connect_timeout=_TIMEOUT_SECONDS
        )
        self._admit, self._settle, self._begin, self._end, self._epoch, self._release = (
            self._script(name)
            for name in ("admit", "settle", "recount_begin", "recount_end", "epoch", "release")
        )

    def _script(self, name: str) -> Script:
        return self._redis.register_script(
            (files("crucible_storage") / f"backlog_{name}.lua").read_text()
        )

    def close(self) -> None:
        self._redis.close()

    @contextmanager
    def admitted(
        self, owner: str, count: int, bound: int, active: Callable[[], int]
    ) -> Iterator[None]:
        """Counts `count` more for `owner` while the block stores them, or
        raises `BacklogFull`; given back if the block raises. `active` counts
        the owner's unfinished evaluations in the database."""
        token = uuid.uuid4().hex
        try:
            answer = self._try_admit(owner, count, bound, token)
            if answer < 0:  # unknown, or about to refuse: recount, then once more
                self._recount(owner, active)
                answer = self._try_admit(owner, count, bound, token)
            if answer < 0:
                backlog = -2 - answer
                raise _full(bound, backlog, count, self._retry_after(backlog + count - bound))
        except RedisError as exc:
            _log.warning("backlog counter unavailable, counting in the database: %s", exc)
            backlog = active()
            if backlog + count > bound:
                raise _full(bound, backlog, count, _UNKNOWN_PACE_RETRY_SECONDS) from None
            yield
            return
        stored = False
        try:
            yield
            stored = True
        finally:
            self._settled(owner, token, count, stored)

    def _try_admit(self, owner: str, count: int, bound: int, token: str) -> int:
        keys = [
            redis_keys.key_active(owner),
            redis_keys.key_admitting(owner),
            redis_keys.key_ledger(owner),
        ]
        return int(self._admit(keys=keys, args=[count, bound, token, _NOTE_TTL_SECONDS]))

    def _recount(self, owner: str, active: Callable[[], int]) -> None:
        token = uuid.uuid4().hex
        recounting, ledger = redis_keys.key_recounting(owner), redis_keys.key_ledger(owner)
        storing, admitted = self._begin(
            keys=[recounting, redis_keys.key_admitting(owner), ledger],
            args=[token, _NOTE_TTL_SECONDS],
        )
        try:
            counted = active()
        except BaseException:
            # Not left to expire: while it stands, the key's finishes are not taken off.
            self._redis.zrem(recounting, token)
            raise
        self._end(
            keys=[redis_keys.key_active(owner), recounting, ledger],
            args=[token, counted, storing, admitted],
        )

    def _settled(self, owner: str, token: str, count: int, stored: bool) -> None:
        try:
            self._settle(
                keys=[redis_keys.key_active(owner), redis_keys.key_admitting(owner)],
                args=[token, count, int(stored)],
            )
        except RedisError as exc:
            _log.warning("backlog counter unavailable: %s", exc)

    def epoch(self, owner: str) -> int:
        """Read before a finish of the owner's is committed; `release` takes it."""
        try:
            return int(
                self._epoch(keys=[redis_keys.key_recounting(owner), redis_keys.key_ledger(owner)])
            )
        except RedisError as exc:
            _log.warning("backlog counter unavailable: %s", exc)
            return _NO_EPOCH

    def release(self, owner: str, epoch: int, count: int = 1) -> None:
        """`count` of the owner's evaluations finished, committed after `epoch` was read."""
        try:
            self._release(
                keys=[
                    redis_keys.key_active(owner),
                    redis_keys.finished_in(_window()),
                    redis_keys.key_ledger(owner),
                ],
                args=[count, _WINDOW_SECONDS * (_PACE_WINDOWS + 1), epoch],
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


def _full(bound: int, backlog: int, count: int, retry_after_seconds: int) -> BacklogFull:
    return BacklogFull(
        f"this key may have {bound} evaluations accepted and not yet finished; "
        f"it has {backlog}, and these {count} would exceed that",
        retry_after_seconds,
    )


def _window() -> int:
    return int(time.time()) // _WINDOW_SECONDS
