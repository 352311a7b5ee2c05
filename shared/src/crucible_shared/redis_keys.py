"""Every Redis key and channel Crucible uses outside Celery's own.

The executor pool lives in the pool Redis:

    crucible:executors                      set of executor ids
    crucible:executor:{id}                  hash: url, backend, capacity
    crucible:executor:{id}:alive            heartbeat; expires when the executor stops beating
    crucible:executor:{id}:leases           sorted set: lease token -> expiry (ms)
    crucible:lease:{token}                  hash: executor, evaluation; expires with the lease
    crucible:evaluation:{id}:lease          the token of the lease running it
    crucible:metrics:lease_double_releases  releases that found nothing to release

The Lua scripts build the per-executor and per-lease keys from `PREFIX`, so
all of them must live on one Redis node (no Redis Cluster).
"""

PREFIX = "crucible:"

EXECUTORS = f"{PREFIX}executors"
LEASE_DOUBLE_RELEASES = f"{PREFIX}metrics:lease_double_releases"
REAPER_LOCK = f"{PREFIX}reaper:lock"
WORKERS = f"{PREFIX}workers"

# Published with an evaluation id when it is cancelled; executors kill its sandbox.
CANCELLATIONS_CHANNEL = f"{PREFIX}cancellations"


def executor(executor_id: str) -> str:
    return f"{PREFIX}executor:{executor_id}"


def executor_alive(executor_id: str) -> str:
    return f"{PREFIX}executor:{executor_id}:alive"


def executor_leases(executor_id: str) -> str:
    return f"{PREFIX}executor:{executor_id}:leases"


def lease(token: str) -> str:
    return f"{PREFIX}lease:{token}"


def evaluation_lease(evaluation_id: str) -> str:
    return f"{PREFIX}evaluation:{evaluation_id}:lease"


def worker_alive(hostname: str) -> str:
    return f"{PREFIX}worker:{hostname}:alive"
