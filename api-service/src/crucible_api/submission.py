"""Enqueueing a freshly stored evaluation, closing it if the queue is away."""

from fastapi import HTTPException, status

from crucible_api.queueing import EvaluationQueue, QueueUnavailable
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.evaluations import Evaluation, EvaluationUpdate
from crucible_shared.storage_client import StorageClient


def enqueue_or_close(
    evaluation: Evaluation, storage: StorageClient, queue: EvaluationQueue
) -> None:
    try:
        queue.enqueue(evaluation.id, evaluation.priority)
    except QueueUnavailable as exc:
        # The record exists but will never run: close it, so that nothing
        # accepted is left without a terminal status.
        storage.update_evaluation(
            evaluation.id,
            EvaluationUpdate(status=EvaluationStatus.FAILED, error=f"could not be queued: {exc}"),
        )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the queue (Redis) is unavailable; the evaluation was not accepted, "
            "submit it again shortly",
        ) from exc
