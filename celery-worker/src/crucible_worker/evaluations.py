"""The evaluation task: from the queue, through an executor slot, to a stored result."""

import logging
import random
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from functools import cache
from typing import TypeVar

from celery import Task
from redis.exceptions import RedisError

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.queues import RUN_EVALUATION_TASK
from crucible_shared.redis_client import bounded_redis
from crucible_shared.schemas.evaluations import Evaluation, EvaluationUpdate
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
from crucible_worker.pool.keeper import LeaseKeeper
from crucible_worker.pool.leases import ExecutorPool, Lease

log = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_RETRY_DELAY_SECONDS = 60.0
_SLOT_POLL_SECONDS = 0.1
# The longest wait between two tries of an unreachable storage: once it is
# back, evaluations go on within this.
_STORAGE_POLL_SECONDS = 2.0


class EvaluationRunner:
    def __init__(
        self,
        settings: WorkerSettings,
        storage: StorageClient,
        pool: ExecutorPool,
        executor: ExecutorClient,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.pool = pool
        self.executor = executor

    def run(self, evaluation_id: str) -> None:
        evaluation = self._read(evaluation_id)
        if evaluation.status.is_terminal:
            log.info("evaluation %s is already %s", evaluation_id, evaluation.status)
            return
        if evaluation.status is not EvaluationStatus.QUEUED:
            if self.pool.is_held(evaluation_id):
                log.info("evaluation %s is running elsewhere; dropping this copy", evaluation_id)
                return
            # Redelivered, and nobody holds it: the worker that had it was lost.
            self._update(
                evaluation_id,
                EvaluationStatus.QUEUED,
                detail="redelivered: the worker running it was lost",
            )
        self.pool.mark_taken(evaluation_id, self.settings.slot_wait_seconds)
        lease = self._wait_for_slot(evaluation_id)
        with LeaseKeeper(self.pool, lease, self.settings.lease_ttl_seconds):
            try:
                self._run_on(lease, evaluation)
            except ExecutorUnreachable:
                # Without this, every retry within the dead executor's last
                # heartbeat would be sent to it again.
                self.pool.evict(lease.executor_id)
                raise

    def _wait_for_slot(self, evaluation_id: str) -> Lease:
        deadline = time.monotonic() + self.settings.slot_wait_seconds
        while (lease := self.pool.claim_slot(evaluation_id)) is None:
            if time.monotonic() >= deadline:
                raise ExecutorUnavailable(
                    f"no executor slot came free in {self.settings.slot_wait_seconds:g} s"
                )
            time.sleep(_SLOT_POLL_SECONDS)
        return lease

    def _run_on(self, lease: Lease, evaluation: Evaluation) -> None:
        with self.executor.execute(lease.executor_url, _execution_request(evaluation)) as events:
            self._update(
                evaluation.id,
                EvaluationStatus.PROVISIONING,
                executor=lease.executor_id,
                detail=f"claimed a slot on {lease.executor_id}",
            )
            for event in events:
                match event:
                    case ExecutionStarted(executor=executor):
                        self._update(
                            evaluation.id,
                            EvaluationStatus.RUNNING,
                            executor=executor,
                            detail=f"running on {executor}",
                        )
                        metrics.QUEUE_WAIT.observe(
                            (datetime.now(UTC) - evaluation.queued_at).total_seconds()
                        )
                    case ExecutionFinished(result=result):
                        self._write(
                            evaluation.id,
                            EvaluationUpdate(
                                status=EvaluationStatus.COMPLETED, **result.model_dump()
                            ),
                        )
                        metrics.FINISHED.labels("completed", result.outcome.value).inc()
                        metrics.RUN_TIME.observe(result.duration_ms / 1000)
                        return
                    case ExecutionFailed(error=error):
                        raise ExecutorUnavailable(f"the sandbox could not run it: {error}")
                    case ExecutionCancelled():
                        return  # the API marked it cancelled before telling the executor
        raise ExecutorUnavailable("the executor ended the stream without a result")

    def requeue(self, evaluation_id: str, reason: str) -> None:
        """Back to `queued` for a retry, unless the fault came before it ever left."""
        current = self._read(evaluation_id)
        if current.status is EvaluationStatus.QUEUED:
            return
        self._update(evaluation_id, EvaluationStatus.QUEUED, detail=f"retrying: {reason}")

    def give_up(self, evaluation_id: str, reason: str) -> None:
        self._write(
            evaluation_id,
            EvaluationUpdate(status=EvaluationStatus.FAILED, error=reason, dead_letter=True),
        )
        metrics.FINISHED.labels("failed", "").inc()
        metrics.DEAD_LETTERS.inc()

    def _update(
        self,
        evaluation_id: str,
        status: EvaluationStatus,
        *,
        detail: str | None = None,
        executor: str | None = None,
    ) -> None:
        self._write(
            evaluation_id, EvaluationUpdate(status=status, detail=detail, executor=executor)
        )

    def _read(self, evaluation_id: str) -> Evaluation:
        return self._patiently(
            lambda: self.storage.get_evaluation(evaluation_id), f"the read of {evaluation_id}"
        )

    def _write(self, evaluation_id: str, update: EvaluationUpdate) -> None:
        self._patiently(
            lambda: self.storage.update_evaluation(evaluation_id, update),
            f"the {update.status} update of {evaluation_id}",
        )

    def _patiently(self, call: Callable[[], T], what: str) -> T:
        """Retries a call to storage while storage is unreachable, so that an
        outage delays the evaluation rather than spending its attempts.

        Only after `storage_retry_seconds` does the error reach the task, which
        retries the whole evaluation. Storage's own answers (not found,
        refused, rejected) are final and raised at once.
        """
        deadline = time.monotonic() + self.settings.storage_retry_seconds
        retries = 0
        while True:
            try:
                return call()
            except (EvaluationNotFound, TransitionRefused, RequestRejected):
                raise
            except StorageError:
                if time.monotonic() >= deadline:
                    raise
                log.warning("storage unreachable; retrying %s", what)
                time.sleep(
                    retry_delay(retries, base_seconds=0.2, cap_seconds=_STORAGE_POLL_SECONDS)
                )
                retries += 1


def _execution_request(evaluation: Evaluation) -> ExecutionRequest:
    return ExecutionRequest(
        evaluation_id=evaluation.id,
        code=evaluation.code,
        stdin=evaluation.stdin,
        timeout_seconds=evaluation.timeout_seconds,
        memory_mb=evaluation.memory_mb,
        image=evaluation.image,
        tests=evaluation.tests,
        stop_on_first_failure=evaluation.stop_on_first_failure,
    )


def retry_delay(
    retries: int, base_seconds: float, cap_seconds: float = _MAX_RETRY_DELAY_SECONDS
) -> float:
    """Exponential backoff with full jitter, so that retries of a crowd spread out."""
    return random.uniform(0, min(base_seconds * 2**retries, cap_seconds))


@cache
def settings() -> WorkerSettings:
    return WorkerSettings()


@cache
def runner() -> EvaluationRunner:
    # Built on first use inside each worker process, never before the fork.
    current = settings()
    return EvaluationRunner(
        current,
        StorageClient(current),
        ExecutorPool(bounded_redis(current.pool_redis_url), current.lease_ttl_seconds),
        ExecutorClient(current),
    )


@app.task(
    name=RUN_EVALUATION_TASK,
    bind=True,
    max_retries=None,  # counted against the settings below, where the evaluation is failed
    time_limit=limits.TIMEOUT_SECONDS.maximum + 120,
    soft_time_limit=limits.TIMEOUT_SECONDS.maximum + 90,
)
def run_evaluation(self: Task, evaluation_id: str) -> None:
    current = runner()
    try:
        current.run(evaluation_id)
    except TransitionRefused as exc:
        # Someone else moved it on: cancelled, or finished by another copy.
        log.info("evaluation %s left alone: %s", evaluation_id, exc)
    # The pool's Redis going away mid-run is a platform fault like the others.
    except (ExecutorUnavailable, StorageError, RedisError) as exc:
        attempt = self.request.retries
        try:
            if attempt >= current.settings.max_retries:
                current.give_up(evaluation_id, f"gave up after {attempt + 1} attempts: {exc}")
                return
            if isinstance(exc, ExecutorUnavailable):
                current.requeue(evaluation_id, f"attempt {attempt + 1}: {exc}")
        except TransitionRefused as refused:
            log.info("evaluation %s left alone: %s", evaluation_id, refused)
            return
        metrics.RETRIES.inc()
        delay = retry_delay(attempt, current.settings.retry_backoff_seconds)
        # The retry's message waits out its countdown in this worker, in no
        # queue. Without the mark the reaper sends a copy; with Redis away,
        # a copy is what it gets (harmless: only one can take it past queued).
        with suppress(RedisError):
            current.pool.mark_taken(evaluation_id, delay)
        raise self.retry(exc=exc, countdown=delay) from exc
