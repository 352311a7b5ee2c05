"""Every Redis key and channel Crucible uses outside Celery's own.

The ready queue and the executor pool live in the pool Redis (Lua scripts
in `crucible_shared.pool`):

    crucible:ready:{priority}:owners        list: the ring of keys with work waiting (round robin)
    crucible:ready:{priority}:owner:{key}   list: that key's evaluation ids, next first
    crucible:ready:members                  hash: id -> "priority<TAB>owner<TAB>sequence" of every
                                            waiting id (its line's place: `position.lua`)
    crucible:ready:pushed / :popped         hashes "priority:owner" -> ids in / out of a line
    crucible:ready:depth                    hash: priority -> ids waiting
    crucible:ready:delayed                  sorted set: id -> when its retry's backoff ends (ms)
    crucible:ready:claiming                 sorted set: id -> deadline (ms) for storage to record
                                            its claim; past it, the reaper puts it back
    crucible:ready:epoch                    set once the reaper has filled the queue from storage;
                                            missing after a restart without persistence
    crucible:owners:max_running             hash: key id -> evaluations it may have running at once
    crucible:owner:{key}:running            sorted set: lease token -> expiry (ms), per key
    crucible:cancelled                      sorted set: id -> when it was cancelled (ms)
    crucible:slots:freed                    list: one entry per lease released (wakes a waiter)
    crucible:executors                      set of executor ids
    crucible:executor:{id}                  hash: url, backend, capacity, cgroup
    crucible:executor:{id}:alive            heartbeat; expires when the executor stops beating
    crucible:executor:{id}:leases           sorted set: lease token -> expiry (ms)
    crucible:lease:{token}                  hash: executor, evaluation, owner (expires with it)
    crucible:evaluation:{id}:lease          the token of the lease running it
    crucible:metrics:lease_double_releases  releases that found nothing to release

Times in the scripts are Redis' own (`TIME`), never a caller's clock.

The storage service's cache Redis (`CRUCIBLE_CACHE_REDIS_URL`) holds:

    crucible:cache:evaluation:{id}          hash {version, doc}: an evaluation as JSON, replaced
                                            by every write unless it holds a newer version
    crucible:key:{id}:submissions:{minute}  submissions of an API key in a minute (quota)
    crucible:key:{id}:active                evaluations of an API key not yet finished (its
                                            backlog, bounded by `max_queued`)
    crucible:metrics:finished:{10 s}        evaluations finished in a 10-second window (estimates)
    crucible:evaluation:{id}:updates        channel: an `EvaluationEvent` as JSON after every
                                            committed transition (creation included)

The Lua scripts build the per-executor and per-lease keys from `PREFIX`, so
all of them must live on one Redis node (no Redis Cluster).
"""

PREFIX = "crucible:"

EXECUTORS = f"{PREFIX}executors"
LEASE_DOUBLE_RELEASES = f"{PREFIX}metrics:lease_double_releases"
REAPER_LOCK = f"{PREFIX}reaper:lock"
REAPER_CHECKED_UNTIL = f"{PREFIX}reaper:checked_until"
READY_MEMBERS = f"{PREFIX}ready:members"
READY_DEPTH = f"{PREFIX}ready:depth"
READY_DELAYED = f"{PREFIX}ready:delayed"
READY_CLAIMING = f"{PREFIX}ready:claiming"
READY_EPOCH = f"{PREFIX}ready:epoch"
CANCELLED = f"{PREFIX}cancelled"
SLOTS_FREED = f"{PREFIX}slots:freed"
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


def key_active(key_id: str) -> str:
    """Evaluations of an API key accepted and not yet finished (its backlog)."""
    return f"{PREFIX}key:{key_id}:active"


def key_admitting(key_id: str) -> str:
    """Sorted set of an API key's admissions counted but not yet stored, by expiry."""
    return f"{PREFIX}key:{key_id}:admitting"


def key_recounting(key_id: str) -> str:
    """Sorted set of recounts of an API key's backlog under way, by expiry."""
    return f"{PREFIX}key:{key_id}:recounting"


def key_ledger(key_id: str) -> str:
    """Hash of an API key's backlog bookkeeping: `admitted` (ever), `epoch` (of recounts)."""
    return f"{PREFIX}key:{key_id}:ledger"


def finished_in(window: int) -> str:
    """Evaluations finished in one 10-second window (epoch seconds // 10)."""
    return f"{PREFIX}metrics:finished:{window}"
