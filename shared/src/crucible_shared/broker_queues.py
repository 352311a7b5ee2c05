"""What waits in the Celery queues on the broker's Redis, read directly.

kombu keeps each queue as a Redis list of JSON messages whose headers name
the task's arguments in plain text (`argsrepr`), so an evaluation's id can
be found in them without decoding the body.
"""

import re

from redis import Redis

from crucible_shared.ids import ID_PATTERN
from crucible_shared.queues import QUEUES_BY_PRIORITY

_ID = re.compile(ID_PATTERN.encode())


def waiting_ids(broker: Redis) -> set[str]:
    """Every id named in a message waiting in a queue (task ids too, which name nothing)."""
    with broker.pipeline(transaction=False) as pipe:
        for queue in QUEUES_BY_PRIORITY:
            pipe.lrange(queue, 0, -1)
        queues: list[list[bytes]] = pipe.execute()
    return {found.decode() for messages in queues for raw in messages for found in _ID.findall(raw)}
