"""The queue as the API sees it: evaluations into the ready queue, a dispatch
message per evaluation onto the Celery queue of its priority, and looking in.

The API sends tasks by name and never imports the worker.
"""

from collections import defaultdict
from collections.abc import Sequence

from celery import Celery
from redis.exceptions import RedisError

from crucible_shared.lifecycle import Priority
from crucible_shared.pool.ready import ReadyQueue
from crucible_shared.queues import DISPATCH_TASK, queue_for
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.evaluations import EvaluationSummary
from crucible_shared.settings import ApiSettings


class QueueUnavailable(Exception):
    """The broker or the pool Redis did not answer."""


class EvaluationQueue:
    def __init__(self, settings: ApiSettings) -> None:
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
        self._redis = bounded_redis(settings.pool_redis_url)
        self._broker = bounded_redis(settings.broker_url)
        self._ready = ReadyQueue(self._redis)

    def enqueue(self, evaluations: Sequence[EvaluationSummary], *, max_running: int | None) -> None:
        """Into the ready queue, each in its key's line; then one dispatch message each."""
        lines: dict[tuple[str | None, Priority], list[str]] = defaultdict(list)
        for evaluation in evaluations:
            lines[(evaluation.owner, evaluation.priority)].append(evaluation.id)
        try:
            for (owner, priority), ids in lines.items():
                self._ready.enqueue(ids, owner=owner, priority=priority, max_running=max_running)
            with self._celery.producer_or_acquire() as producer:
                for (_, priority), ids in lines.items():
                    for _ in ids:
                        self._celery.send_task(
                            DISPATCH_TASK, queue=queue_for(priority), producer=producer
                        )
        except Exception as exc:  # kombu surfaces broker faults under many types
            raise QueueUnavailable(str(exc)) from exc

    def position(self, evaluation_id: str) -> int | None:
        """1 when it is its key's next at its priority; None when it is not waiting."""
        try:
            return self._ready.position(evaluation_id)
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc

    def depths(self) -> dict[Priority, int]:
        try:
            return self._ready.depths()
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc

    def cancel(self, evaluation_ids: list[str]) -> None:
        """Neither dispatched nor let run on: dispatch skips them, and executors
        kill their sandboxes (at once, and at their next heartbeat if they missed it)."""
        try:
            self._ready.cancel(evaluation_ids)
        except RedisError as exc:
            raise QueueUnavailable(str(exc)) from exc

    def ready(self) -> bool:
        try:
            return bool(self._redis.ping() and self._broker.ping())
        except RedisError:
            return False

    def close(self) -> None:
        self._celery.close()
        self._redis.close()
        self._broker.close()
