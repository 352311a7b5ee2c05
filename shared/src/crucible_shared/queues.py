"""Celery queue and task names: the API enqueues by name, the worker consumes them."""

from crucible_shared.lifecycle import Priority

# A dispatch message carries no evaluation: it is a worker's turn to take the
# next one from the ready queue (`crucible_shared.pool`), whichever that is.
# One is sent per evaluation that enters the ready queue.
DISPATCH_TASK = "crucible.dispatch"
PURGE_DELETED_TASK = "crucible.purge_deleted"

# Workers consume the queues in this order.
QUEUES_BY_PRIORITY: tuple[str, ...] = tuple(p.value for p in Priority)


# Housekeeping runs after every evaluation waiting.
MAINTENANCE_QUEUE = Priority.LOW.value


def queue_for(priority: Priority) -> str:
    return priority.value
