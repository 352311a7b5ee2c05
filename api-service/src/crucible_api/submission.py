"""Enqueueing freshly stored evaluations, closing those the queue cannot take."""

from contextlib import AbstractContextManager
from typing import Any

from fastapi import HTTPException, status
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from crucible_api.metrics import SUBMISSIONS
from crucible_api.queueing import EvaluationQueue, QueueUnavailable
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.evaluations import (
    BatchItem,
    BatchResult,
    Evaluation,
    EvaluationCreate,
    EvaluationSummary,
    EvaluationUpdate,
    OwnedSubmission,
)
from crucible_shared.storage_client import StorageClient


def enqueue_or_close(
    evaluation: Evaluation, storage: StorageClient, queue: EvaluationQueue
) -> None:
    failure = _enqueue_or_fail(evaluation, storage, queue)
    if failure is not None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="the queue (Redis) is unavailable; the evaluation was not accepted, "
            "submit it again shortly",
        ) from failure


def _enqueue_or_fail(
    evaluation: EvaluationSummary, storage: StorageClient, queue: EvaluationQueue
) -> QueueUnavailable | None:
    """Queues a stored evaluation, or says why it could not and closes it: the
    record exists but will never run, and nothing accepted may be left
    without a terminal status."""
    try:
        queue.enqueue(evaluation.id, evaluation.priority)
    except QueueUnavailable as exc:
        storage.update_evaluation(
            evaluation.id,
            EvaluationUpdate(status=EvaluationStatus.FAILED, error=f"could not be queued: {exc}"),
        )
        return exc
    return None


def submit_many(
    submissions: list[dict[str, Any]],
    owner: str,
    storage: StorageClient,
    queue: EvaluationQueue,
    admitted: AbstractContextManager[None],
) -> BatchResult:
    """Stores and queues the valid submissions of a batch, in order, and says
    of each invalid one what is wrong with it. `admitted` (the key's quota
    check) is held while they are stored, and only then."""
    items, valid = validate_many(submissions, owner)
    with admitted:
        stored = storage.create_evaluations([s for _, s in valid]) if valid else []
    return enqueue_many(items, [item for item, _ in valid], stored, storage, queue)


def validate_many(
    submissions: list[dict[str, Any]], owner: str
) -> tuple[list[BatchItem], list[tuple[BatchItem, OwnedSubmission]]]:
    """An item per submission, with the errors of the invalid ones; and the valid ones."""
    items = [BatchItem(index=index) for index in range(len(submissions))]
    valid: list[tuple[BatchItem, OwnedSubmission]] = []
    for item, raw in zip(items, submissions, strict=True):
        try:
            submission = EvaluationCreate.model_validate(raw)
            valid.append((item, OwnedSubmission(**submission.model_dump(), owner=owner)))
        except ValidationError as exc:
            item.errors = [_describe(error) for error in exc.errors(include_input=False)]
    return items, valid


def enqueue_many(
    items: list[BatchItem],
    stored_items: list[BatchItem],
    stored: list[EvaluationSummary],
    storage: StorageClient,
    queue: EvaluationQueue,
) -> BatchResult:
    """Queues what was stored (`stored_items[n]` is the item of `stored[n]`)."""
    for item, evaluation in zip(stored_items, stored, strict=True):
        failure = _enqueue_or_fail(evaluation, storage, queue)
        if failure is not None:
            item.errors = [f"the queue (Redis) is unavailable; submit it again shortly: {failure}"]
            continue
        item.id = evaluation.id
        item.label = evaluation.label
        SUBMISSIONS.labels(evaluation.priority.value).inc()
    accepted = sum(1 for item in items if item.id is not None)
    return BatchResult(accepted=accepted, rejected=len(items) - accepted, items=items)


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
