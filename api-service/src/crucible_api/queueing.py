"""Putting evaluations on the Celery queues, by task name: the API never imports the worker."""

from celery import Celery

from crucible_shared.lifecycle import Priority
from crucible_shared.queues import RUN_EVALUATION_TASK, queue_for
from crucible_shared.settings import BrokerSettings


class QueueUnavailable(Exception):
    """The broker did not take the message."""


class EvaluationQueue:
    def __init__(self, settings: BrokerSettings) -> None:
        self._celery = Celery("crucible-api", broker=settings.broker_url, set_as_current=False)
        self._celery.conf.update(
            # Fail fast while Redis is down: the caller answers 503 instead of hanging.
            broker_connection_retry=False,
            broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 5},
            task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1,
                                       "interval_step": 0.2},
        )

    def enqueue(self, evaluation_id: str, priority: Priority) -> None:
        try:
            self._celery.send_task(
                RUN_EVALUATION_TASK, args=[evaluation_id], queue=queue_for(priority)
            )
        except Exception as exc:  # kombu surfaces broker faults under many types
            raise QueueUnavailable(str(exc)) from exc

    def ready(self) -> bool:
        try:
            with self._celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            return True
        except Exception:
            return False

    def close(self) -> None:
        self._celery.close()
