"""Celery queue and task names: the API enqueues by name, the worker consumes them."""

from crucible_shared.lifecycle import Priority

RUN_EVALUATION_TASK = "crucible.run_evaluation"
PURGE_DELETED_TASK = "crucible.purge_deleted"

# Workers consume the queues in this order.
QUEUES_BY_PRIORITY: tuple[str, ...] = tuple(p.value for p in Priority)


# Housekeeping runs after every evaluation waiting.
MAINTENANCE_QUEUE = Priority.LOW.value


def queue_for(priority: Priority) -> str:
    return priority.value
