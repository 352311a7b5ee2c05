"""Every Celery setting of the worker, in one function."""

from typing import Any

from kombu.entity import Queue

from crucible_shared.queues import MAINTENANCE_QUEUE, PURGE_DELETED_TASK, QUEUES_BY_PRIORITY
from crucible_shared.settings import WorkerSettings


def celery_config(settings: WorkerSettings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url,
        "broker_connection_retry_on_startup": True,
        "task_queues": [Queue(name) for name in QUEUES_BY_PRIORITY],
        "task_default_queue": "normal",
        # A worker killed mid-task must not lose the evaluation: the message is
        # acknowledged only when the task returns, and redelivered otherwise.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            # Poll the queues in the order given (high, normal, low) rather than
            # round-robin, so that a backlog of low never delays a high.
            "queue_order_strategy": "priority",
            # Longer than the longest evaluation can run, so that a message is
            # redelivered only when its worker is really gone.
            "visibility_timeout": 3600,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": {
            "purge-deleted": {
                "task": PURGE_DELETED_TASK,
                "schedule": settings.purge_interval_seconds,
                "options": {"queue": MAINTENANCE_QUEUE},
            }
        },
    }
