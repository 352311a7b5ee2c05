"""Every Redis key and channel Crucible uses outside Celery's own.

The executor pool lives in the pool Redis:

    crucible:executors                      set of executor ids
    crucible:executor:{id}                  hash: url, backend, capacity
    crucible:executor:{id}:alive            heartbeat; expires when the executor stops beating
    crucible:executor:{id}:leases           sorted set: lease token -> expiry (ms)
    crucible:lease:{token}                  hash: executor, evaluation; expires with the lease
    crucible:evaluation:{id}:lease          the token of the lease running it
    crucible:evaluation:{id}:resent         set while a re-sent message of it is fresh (reaper)
    crucible:evaluation:{id}:taken          set while a worker has its message but no lease yet
                                            (waiting for a slot, or a retry's countdown)
    crucible:metrics:lease_double_releases  releases that found nothing to release

The storage service's cache Redis (`CRUCIBLE_CACHE_REDIS_URL`) holds:

    crucible:cache:evaluation:{id}          hash {version, doc}: an evaluation as JSON, replaced
                                            by every write unless it holds a newer version
    crucible:key:{id}:submissions:{minute}  submissions of an API key in a minute (quota)
    crucible:key:{id}:admission             lock: one submission of the key admitted at a time
    crucible:evaluation:{id}:updates        channel: an `EvaluationEvent` as JSON after every
                                            committed transition (creation included)

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


def evaluation_resent(evaluation_id: str) -> str:
    return f"{PREFIX}evaluation:{evaluation_id}:resent"


def evaluation_taken(evaluation_id: str) -> str:
    return f"{PREFIX}evaluation:{evaluation_id}:taken"


def worker_alive(hostname: str) -> str:
    return f"{PREFIX}worker:{hostname}:alive"


def evaluation_cache(evaluation_id: str) -> str:
    return f"{PREFIX}cache:evaluation:{evaluation_id}"


def evaluation_updates(evaluation_id: str) -> str:
    """Channel of an evaluation's transitions; the API's event stream listens here."""
    return f"{PREFIX}evaluation:{evaluation_id}:updates"


def batch_updates(batch_id: str) -> str:
    """Channel of a batch's evaluations' transitions; its results stream listens here."""
    return f"{PREFIX}batch:{batch_id}:updates"


def key_submissions(key_id: str, minute: int) -> str:
    """Submissions an API key made in one minute (epoch minutes), for its quota."""
    return f"{PREFIX}key:{key_id}:submissions:{minute}"


def key_admission(key_id: str) -> str:
    """Held while a submission of an API key is counted and stored (in-flight quota)."""
    return f"{PREFIX}key:{key_id}:admission"
