"""Hearing that an evaluation changed: its channel on the cache Redis, or polling without it.

The storage service publishes an `EvaluationEvent` on
`redis_keys.evaluation_updates(id)` after every committed transition. A
message only says *that* something changed; the listener reads the
evaluation again, so a lost or duplicated message cannot show a wrong state.
"""

import asyncio
from contextlib import suppress

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from crucible_shared import redis_keys
from crucible_shared.settings import CacheSettings

# How often a stream looks at storage itself when Redis cannot tell it.
POLL_INTERVAL_SECONDS = 0.5


class ChangeListener:
    """Waits for the next change of one evaluation (or of a batch's evaluations)."""

    def __init__(self, pubsub: PubSub | None) -> None:
        self._pubsub = pubsub

    async def wait(self, timeout: float) -> bool:
        """True when the evaluation may have changed, False when `timeout` passed quietly.

        While polling, every interval counts as a possible change.
        """
        if self._pubsub is None:
            return await _poll(timeout)
        try:
            message = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=timeout
            )
        except (RedisError, OSError):
            # Redis went away mid-stream: carry on by polling rather than end the stream.
            await self.close()
            return True
        return message is not None

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped


async def _poll(timeout: float) -> bool:
    await asyncio.sleep(min(timeout, POLL_INTERVAL_SECONDS))
    return True


class EvaluationUpdates:
    def __init__(self, settings: CacheSettings) -> None:
        self._redis = Redis.from_url(
            settings.cache_redis_url, socket_connect_timeout=2, socket_timeout=5
        )

    async def listen(self, evaluation_id: str) -> ChangeListener:
        """Subscribed before returning, so nothing published after this call is missed."""
        return await self._subscribed(redis_keys.evaluation_updates(evaluation_id))

    async def listen_to_batch(self, batch_id: str) -> ChangeListener:
        """Hears each evaluation of the batch that finishes; subscribed before returning."""
        return await self._subscribed(redis_keys.batch_updates(batch_id))

    async def _subscribed(self, channel: str) -> ChangeListener:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(channel)
        except (RedisError, OSError):
            await ChangeListener(pubsub).close()
            return ChangeListener(None)
        return ChangeListener(pubsub)

    async def close(self) -> None:
        await self._redis.aclose()
