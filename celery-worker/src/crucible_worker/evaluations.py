"""The dispatch task: the next evaluation from the ready queue, through a slot, to a stored result.

A dispatch message names no evaluation. The worker that takes one asks the
ready queue for the next evaluation together with a free slot
(`ExecutorPool.dispatch`); while none is free it waits for a release,
holding nothing and spending nobody's attempts: congestion is back-pressure,
never a fault. Storage is the authority on each run: the claim counts the
attempt before the sandbox starts, and `start`, `finish` and `requeue` name
their attempt, so a run that lost its slot cannot store over its successor.
"""

import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from functools import cache, partial
from typing import TypeVar

from redis import Redis
from redis.exceptions import RedisError

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.pool.leases import Dispatched, Empty, ExecutorPool
from crucible_shared.pool.ready import ReadyQueue
from crucible_shared.queues import DISPATCH_TASK, queue_for
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.commands import (
    ClaimCommand,
    FinishCommand,
    RequeueCommand,
    StartCommand,
)
from crucible_shared.schemas.execution import (
    ExecutionCancelled,
    ExecutionFailed,
    ExecutionFinished,
    ExecutionRequest,
    ExecutionStarted,
)
from crucible_shared.settings import WorkerSettings
from crucible_shared.storage_client import (
    EvaluationNotFound,
    RequestRejected,
    StorageClient,
    StorageError,
    TransitionRefused,
)
from crucible_worker import metrics
from crucible_worker.celery_app.app import app
from crucible_worker.executor_client import (
    ExecutorClient,
    ExecutorUnavailable,
    ExecutorUnreachable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_RETRY_DELAY_SECONDS = 60.0
# A waiter looks again this often even if no release wakes it.
_WAIT_SECONDS = 2.0
# Longest one dispatch message is held waiting; then it is sent again, so
# that no task runs into Celery's time limit while it waits.
_MAX_HOLD_SECONDS = 300.0
# The longest wait between two tries of an unreachable storage: once it is
# back, evaluations go on within this.
_STORAGE_POLL_SECONDS = 2.0
# Storage's refusals are final, whatever their kind.
_FINAL = (EvaluationNotFound, TransitionRefused, RequestRejected)


class Dispatcher:
    def __init__(
        self,
        settings: WorkerSettings,
        storage: StorageClient,
        redis: Redis,
        executor: ExecutorClient,
        send_dispatch: Callable[[Priority], None],
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.pool = ExecutorPool(redis, settings.lease_ttl_seconds)
        self.ready = ReadyQueue(redis)
        self.executor = executor
        self.send_dispatch = send_dispatch
        self.max_attempts = settings.max_retries + 1

    def dispatch_one(self) -> None:
        """Runs the next evaluation that a slot is free for, waiting for one if need be."""
        held_until = time.monotonic() + _MAX_HOLD_SECONDS
        while True:
            taken = self.pool.dispatch()
            if isinstance(taken, Dispatched):
                self.run(taken)
                return
            if isinstance(taken, Empty) and taken.due_ms is None:
                return  # its evaluation went with another message, or was cancelled
            if time.monotonic() >= held_until:
                self.send_dispatch(Priority.HIGH)
                return
            wait = _WAIT_SECONDS
            if isinstance(taken, Empty) and taken.due_ms is not None:
                wait = min(wait, max(0.01, taken.due_ms / 1000 - time.time()))
            self.pool.wait_for_slot(wait)

    def run(self, taken: Dispatched) -> None:
        lease = taken.lease
        evaluation_id = lease.evaluation_id
        try:
            claim = self._patiently(
                lambda: self.storage.claim(
                    evaluation_id,
                    ClaimCommand(executor=lease.executor_id, max_attempts=self.max_attempts),
                ),
                f"the claim of {evaluation_id}",
            )
        except _FINAL as exc:
            log.info("evaluation %s not run: %s", evaluation_id, exc)
            self.pool.release_lease(lease.token)
            return
        except StorageError as exc:
            # Still queued in storage: back at the front of its line, no attempt spent.
            log.warning("evaluation %s back to the queue: %s", evaluation_id, exc)
            self.pool.release_lease(lease.token)
            self.ready.enqueue(
                [evaluation_id], owner=taken.owner, priority=taken.priority, where="front"
            )
            self.send_dispatch(taken.priority)
            return
        finally:
            with suppress(RedisError):
                self.pool.claimed(evaluation_id)
        metrics.QUEUE_WAIT.observe((datetime.now(UTC) - claim.queued_at).total_seconds())
        request = claim.request.model_copy(update={"lease_token": lease.token})
        try:
            self._execute(lease.executor_url, claim.attempt, request, lease.executor_id)
        except (ExecutorUnavailable, StorageError, RedisError) as exc:
            if isinstance(exc, ExecutorUnreachable):
                # Without this, every retry within the dead executor's last
                # heartbeat would be sent to it again.
                with suppress(RedisError):
                    self.pool.evict(lease.executor_id)
            with suppress(RedisError):
                self.pool.release_lease(lease.token)
            self._retry(taken, claim.attempt, str(exc))

    def _execute(self, url: str, attempt: int, request: ExecutionRequest, executor_id: str) -> None:
        evaluation_id = request.evaluation_id
        with self.executor.execute(url, request) as events:
            for event in events:
                match event:
                    case ExecutionStarted(executor=executor):
                        start = StartCommand(attempt=attempt, executor=executor)
                        if not self._stored(
                            partial(self.storage.start, evaluation_id, start), evaluation_id
                        ):
                            return  # cancelled meanwhile: its sandbox is being killed
                    case ExecutionFinished(result=result):
                        finish = FinishCommand(attempt=attempt, result=result)
                        if self._stored(
                            partial(self.storage.finish, evaluation_id, finish), evaluation_id
                        ):
                            metrics.FINISHED.labels("completed", result.outcome.value).inc()
                            metrics.RUN_TIME.observe(result.duration_ms / 1000)
                        return
                    case ExecutionFailed(error=error):
                        raise ExecutorUnavailable(f"the sandbox could not run it: {error}")
                    case ExecutionCancelled():
                        return  # the API marked it cancelled before telling the executor
        raise ExecutorUnavailable(f"{executor_id} ended the stream without a result")

    def _stored(self, write: Callable[[], object], evaluation_id: str) -> bool:
        """False when storage refuses the write: cancelled, or the attempt lost its slot."""
        try:
            self._patiently(write, f"a write of {evaluation_id}")
        except _FINAL as exc:
            log.info("evaluation %s left alone: %s", evaluation_id, exc)
            return False
        return True

    def _retry(self, taken: Dispatched, attempt: int, reason: str) -> None:
        evaluation_id = taken.lease.evaluation_id
        command = RequeueCommand(attempt=attempt, reason=reason, max_attempts=self.max_attempts)
        try:
            summary = self._patiently(
                lambda: self.storage.requeue(evaluation_id, command),
                f"the requeue of {evaluation_id}",
            )
        except _FINAL as exc:
            log.info("evaluation %s left alone: %s", evaluation_id, exc)
            return
        except StorageError as exc:
            # Storage still says it runs, and no lease holds it: the reaper
            # requeues it once the lease would have expired.
            log.warning("evaluation %s left to the reaper: %s", evaluation_id, exc)
            return
        if summary.status is EvaluationStatus.FAILED:
            log.warning("evaluation %s failed: %s", evaluation_id, summary.error)
            metrics.FINISHED.labels("failed", "").inc()
            metrics.DEAD_LETTERS.inc()
            return
        metrics.RETRIES.inc()
        delay = retry_delay(attempt - 1, self.settings.retry_backoff_seconds)
        log.info("evaluation %s retried in %.1f s: %s", evaluation_id, delay, reason)
        try:
            self.ready.enqueue(
                [evaluation_id],
                owner=taken.owner,
                priority=taken.priority,
                where="later",
                delay_seconds=delay,
            )
        except RedisError as exc:
            log.warning("evaluation %s left to the reaper: %s", evaluation_id, exc)
            return
        self.send_dispatch(taken.priority)

    def _patiently(self, call: Callable[[], T], what: str) -> T:
        """Retries a call to storage while storage is unreachable, so that an
        outage delays the evaluation rather than spending its attempts.

        Only after `storage_retry_seconds` does the error reach the caller.
        Storage's own answers (not found, refused, rejected) are final and
        raised at once.
        """
        deadline = time.monotonic() + self.settings.storage_retry_seconds
        retries = 0
        while True:
            try:
                return call()
            except _FINAL:
                raise
            except StorageError:
                if time.monotonic() >= deadline:
                    raise
                log.warning("storage unreachable; retrying %s", what)
                time.sleep(
                    retry_delay(retries, base_seconds=0.2, cap_seconds=_STORAGE_POLL_SECONDS)
                )
                retries += 1


def retry_delay(
    retries: int, base_seconds: float, cap_seconds: float = _MAX_RETRY_DELAY_SECONDS
) -> float:
    """Exponential backoff with full jitter, so that retries of a crowd spread out."""
    return random.uniform(0, min(base_seconds * 2**retries, cap_seconds))


@cache
def settings() -> WorkerSettings:
    return WorkerSettings()


def send_dispatch(priority: Priority) -> None:
    dispatch.apply_async(queue=queue_for(priority))


@cache
def dispatcher() -> Dispatcher:
    # Built on first use inside each worker process, never before the fork.
    current = settings()
    return Dispatcher(
        current,
        StorageClient(current),
        bounded_redis(current.pool_redis_url),
        ExecutorClient(current),
        send_dispatch,
    )


@app.task(
    name=DISPATCH_TASK,
    time_limit=limits.TIMEOUT_SECONDS.maximum + _MAX_HOLD_SECONDS + 180,
    soft_time_limit=limits.TIMEOUT_SECONDS.maximum + _MAX_HOLD_SECONDS + 150,
)
def dispatch() -> None:
    dispatcher().dispatch_one()
