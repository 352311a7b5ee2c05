"""The Celery queues as the API sees them: putting evaluations on, and looking in.

The API enqueues by task name and never imports the worker.
"""

from importlib.resources import files

from celery import Celery
from redis.exceptions import RedisError

from crucible_shared.lifecycle import Priority
from crucible_shared.queues import QUEUES_BY_PRIORITY, RUN_EVALUATION_TASK, queue_for
from crucible_shared.redis_client import bounded_redis
from crucible_shared.settings import BrokerSettings


class QueueUnavailable(Exception):
    """The broker did not answer."""


class EvaluationQueue:
    def __init__(self, settings: BrokerSettings) -> None:
        self._celery = Celery("crucible-api", broker=settings.broker_url, set_as_current=False)
        self._celery.conf.update(
            # Fail fast while Redis is down: the caller answers 503 instead of hanging.
            broker_connection_retry=False,
            broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 5},
            task_publish_retry_policy={
                "max_retries": 2,
                "interval_start": 0.1,
                "interval_step": 0.2,
            },
        )
        self._redis = bounded_redis(settings.broker_url)
        self._position = self._redis.register_script(
            files(__package__).joinpath("queue_position.lua").read_text()
        )

    def enqueue(self, evaluation_id: str, priority: Priority) -> None:
        try:
            self._celery.send_task(
                RUN_EVALUATION_TASK, args=[evaluation_id], queue=queue_for(priority)
            )
        except Exception as exc:  # kombu surfaces broker faults under many types
            raise QueueUnavailable(str(exc)) from exc

    def position(self, evaluation_id: str, priority: Priority) -> int | None:
        """1 when it runs next in its queue; None when it is not waiting there."""
        try:
            found = self._position(keys=[queue_for(priority)], args=[evaluation_id])
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc
        return int(found) if found is not None else None

    def depths(self) -> dict[str, int]:
        try:
            with self._redis.pipeline() as pipe:
                for name in QUEUES_BY_PRIORITY:
                    pipe.llen(name)
                lengths = pipe.execute()
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc
        return dict(zip(QUEUES_BY_PRIORITY, lengths, strict=True))

    def ready(self) -> bool:
        try:
            return bool(self._redis.ping())
        except RedisError:
            return False

    def close(self) -> None:
        self._celery.close()
        self._redis.close()
