"""Storage's optional Redis: a read cache and the channels of live updates.

Neither is needed for correctness, so a Redis that is down or slow only
makes storage slower: calls fail fast (short timeouts), and after a failure
Redis is left alone for a while instead of being waited for on every request.
"""

import logging
import time
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from crucible_shared import redis_keys
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.evaluations import Evaluation
from crucible_shared.schemas.events import EvaluationEvent

_log = logging.getLogger(__name__)
_TIMEOUT_SECONDS = 0.25
_BACKOFF_SECONDS = 5.0
_PUT_IF_NEWER = (files("crucible_storage") / "put_if_newer.lua").read_text()


class RedisLink:
    def __init__(self, url: str, *, ttl_seconds: int) -> None:
        self._redis = bounded_redis(url, timeout=_TIMEOUT_SECONDS, connect_timeout=_TIMEOUT_SECONDS)
        self._ttl_seconds = ttl_seconds
        self._quiet_until = 0.0
        # Set when a write may have gone unrecorded in the cache.
        self._distrusted = False

    def close(self) -> None:
        self._redis.close()

    def cached(self, evaluation_id: str) -> Evaluation | None:
        if not self._usable():
            return None
        try:
            document = self._redis.hget(redis_keys.evaluation_cache(evaluation_id), "doc")
        except RedisError as exc:
            self._failed(exc)
            return None
        return None if document is None else Evaluation.model_validate_json(document)

    def cache(self, evaluation: Evaluation) -> None:
        """Keeps `evaluation` unless the cache holds a newer version of it.

        Versions are `updated_at`, which every write advances: a reader that
        loaded an evaluation before a write cannot put its older copy over
        the one the writer cached after it.
        """
        if self._usable():
            try:
                self._put(self._redis, evaluation)
            except RedisError as exc:
                self._failed(exc)

    def committed(self, evaluation: Evaluation, event: EvaluationEvent) -> None:
        """Caches what a write stored, then announces it, in one round trip:
        a listener that reads again on the news finds the new version."""
        if self._usable():
            try:
                pipeline = self._redis.pipeline(transaction=False)
                self._put(pipeline, evaluation)
                pipeline.publish(
                    redis_keys.evaluation_updates(event.evaluation_id), event.model_dump_json()
                )
                if evaluation.batch_id is not None and evaluation.status.is_terminal:
                    pipeline.publish(
                        redis_keys.batch_updates(evaluation.batch_id), event.model_dump_json()
                    )
                pipeline.execute()
            except RedisError as exc:
                self._failed(exc)

    def forget(self, evaluation_id: str) -> None:
        if self._usable():
            try:
                self._redis.delete(redis_keys.evaluation_cache(evaluation_id))
            except RedisError as exc:
                self._failed(exc)

    def _usable(self) -> bool:
        """Whether to use Redis now: not while it rests after a failure, and
        not before the cache is emptied after one.

        A write that could not reach the cache leaves there the version
        before it (a Redis that restarts keeps what it had), which readers
        would be served: so whatever the cache holds goes first.
        """
        if time.monotonic() < self._quiet_until:
            return False
        if self._distrusted:
            try:
                for keys in _batches(self._redis.scan_iter(match=redis_keys.evaluation_cache("*"))):
                    self._redis.delete(*keys)
            except RedisError as exc:
                self._failed(exc)
                return False
            self._distrusted = False
            _log.info("cache Redis is back; emptied the cache")
        return True

    def _put(self, client: Redis | Pipeline, evaluation: Evaluation) -> None:
        if evaluation.updated_at is not None:
            version = int(evaluation.updated_at.timestamp() * 1_000_000)
            # EVAL with the text, not a registered script: a pipeline would first
            # ask whether the script exists, a round trip of its own.
            client.eval(
                _PUT_IF_NEWER,
                1,
                redis_keys.evaluation_cache(evaluation.id),
                version,
                evaluation.model_dump_json(),
                self._ttl_seconds,
            )

    def _failed(self, exc: RedisError) -> None:
        _log.warning(
            "cache Redis unavailable, going on without it for %s s: %s", _BACKOFF_SECONDS, exc
        )
        self._quiet_until = time.monotonic() + _BACKOFF_SECONDS
        self._distrusted = True


def _batches(keys: Iterator[Any], size: int = 500) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for key in keys:
        batch.append(key)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
