"""The evaluation task: from the queue, through an executor, to a stored result."""

import logging
import random
from functools import cache

from celery import Task

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.queues import RUN_EVALUATION_TASK
from crucible_shared.schemas.evaluations import Evaluation, EvaluationUpdate
from crucible_shared.schemas.execution import (
    ExecutionFailed,
    ExecutionFinished,
    ExecutionRequest,
    ExecutionStarted,
)
from crucible_shared.settings import WorkerSettings
from crucible_shared.storage_client import StorageClient, StorageError, TransitionRefused
from crucible_worker.celery_app.app import app
from crucible_worker.executor_client import ExecutorClient, ExecutorUnavailable

log = logging.getLogger(__name__)

_MAX_RETRY_DELAY_SECONDS = 60.0


class EvaluationRunner:
    def __init__(self, storage: StorageClient, executor: ExecutorClient) -> None:
        self.storage = storage
        self.executor = executor

    def run(self, evaluation_id: str) -> None:
        evaluation = self.storage.get_evaluation(evaluation_id)
        if evaluation.status.is_terminal:
            log.info("evaluation %s is already %s", evaluation_id, evaluation.status)
            return
        if evaluation.status is not EvaluationStatus.QUEUED:
            # Redelivered by the broker: the worker that held it was lost.
            self._update(evaluation_id, EvaluationStatus.QUEUED,
                         detail="redelivered: the worker running it was lost")
        self._update(evaluation_id, EvaluationStatus.PROVISIONING)
        for event in self.executor.execute(_execution_request(evaluation)):
            match event:
                case ExecutionStarted(executor=executor):
                    self._update(evaluation_id, EvaluationStatus.RUNNING, executor=executor,
                                 detail=f"running on {executor}")
                case ExecutionFinished(result=result):
                    self.storage.update_evaluation(evaluation_id, EvaluationUpdate(
                        status=EvaluationStatus.COMPLETED, **result.model_dump()))
                    return
                case ExecutionFailed(error=error):
                    self._update(evaluation_id, EvaluationStatus.FAILED, error=error)
                    return
        raise ExecutorUnavailable("the executor ended the stream without a result")

    def requeue(self, evaluation_id: str, reason: str) -> None:
        self._update(evaluation_id, EvaluationStatus.QUEUED, detail=f"retrying: {reason}")

    def fail(self, evaluation_id: str, reason: str) -> None:
        self._update(evaluation_id, EvaluationStatus.FAILED, error=reason)

    def _update(self, evaluation_id: str, status: EvaluationStatus, **fields: str) -> None:
        self.storage.update_evaluation(evaluation_id, EvaluationUpdate(status=status, **fields))


def _execution_request(evaluation: Evaluation) -> ExecutionRequest:
    return ExecutionRequest(
        evaluation_id=evaluation.id,
        code=evaluation.code,
        stdin=evaluation.stdin,
        timeout_seconds=evaluation.timeout_seconds,
        memory_mb=evaluation.memory_mb,
    )


def retry_delay(retries: int, base_seconds: float) -> float:
    """Exponential backoff with full jitter, so that retries of a crowd spread out."""
    return random.uniform(0, min(base_seconds * 2**retries, _MAX_RETRY_DELAY_SECONDS))


@cache
def _settings() -> WorkerSettings:
    return WorkerSettings()


@cache
def _runner() -> EvaluationRunner:
    # Built on first use inside each worker process, never before the fork.
    settings = _settings()
    return EvaluationRunner(StorageClient(settings), ExecutorClient(settings))


@app.task(
    name=RUN_EVALUATION_TASK,
    bind=True,
    max_retries=None,  # counted against settings below, where the evaluation is failed
    time_limit=limits.TIMEOUT_SECONDS.maximum + 120,
    soft_time_limit=limits.TIMEOUT_SECONDS.maximum + 90,
)
def run_evaluation(self: Task, evaluation_id: str) -> None:
    runner = _runner()
    settings = _settings()
    try:
        runner.run(evaluation_id)
    except TransitionRefused as exc:
        # Someone else moved it on (cancelled, or finished by a redelivered copy).
        log.info("evaluation %s left alone: %s", evaluation_id, exc)
    except (ExecutorUnavailable, StorageError) as exc:
        attempt = self.request.retries
        if attempt >= settings.max_retries:
            runner.fail(evaluation_id, f"gave up after {attempt + 1} attempts: {exc}")
            return
        if isinstance(exc, ExecutorUnavailable):
            runner.requeue(evaluation_id, f"attempt {attempt + 1}: {exc}")
        raise self.retry(
            exc=exc, countdown=retry_delay(attempt, settings.retry_backoff_seconds)
        ) from exc
