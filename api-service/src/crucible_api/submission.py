"""Accepting submissions: counted against the key, stored, then queued.

Stored before queued: an evaluation is accepted once storage has it, and a
crash before it reaches the ready queue is repaired by the reaper, which
queues what storage has queued and Redis does not. Should the queue refuse
outright, the evaluation is closed as `failed` rather than left to wait.
"""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import HTTPException, status
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from crucible_api.metrics import SUBMISSIONS
from crucible_api.queueing import EvaluationQueue, QueueUnavailable
from crucible_api.quotas import Quotas
from crucible_shared.schemas.commands import FailCommand
from crucible_shared.schemas.evaluations import (
    BatchItem,
    BatchResult,
    Evaluation,
    EvaluationCreate,
    EvaluationSummary,
    OwnedSubmission,
)
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.storage_client import BacklogFull, StorageClient

T = TypeVar("T")
_QUEUE_DOWN = "the queue (Redis) is unavailable; the evaluation was not accepted, submit it again"


def submit_one(
    submission: EvaluationCreate,
    caller: StoredKey,
    storage: StorageClient,
    queue: EvaluationQueue,
    quotas: Quotas,
) -> Evaluation:
    quotas.admit(caller, 1)
    evaluation = admitted(
        lambda: storage.create_evaluation(
            OwnedSubmission(**submission.model_dump(), owner=caller.id),
            max_queued=caller.max_queued,
        )
    )
    enqueue_or_close(evaluation, storage, queue, max_running=caller.max_running)
    return evaluation


def enqueue_or_close(
    evaluation: Evaluation,
    storage: StorageClient,
    queue: EvaluationQueue,
    *,
    max_running: int | None,
) -> None:
    """Queues one stored evaluation; 503 (and the evaluation failed) if the queue refuses."""
    failure = _enqueue_or_close([evaluation], storage, queue, max_running)
    if failure is not None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=_QUEUE_DOWN) from failure


def submit_many(
    submissions: list[dict[str, Any]],
    caller: StoredKey,
    storage: StorageClient,
    queue: EvaluationQueue,
    quotas: Quotas,
) -> BatchResult:
    """Stores and queues the valid submissions of a batch, in order, and says
    of each invalid one what is wrong with it."""
    items, valid = validate_many(submissions, caller.id)
    if valid:
        quotas.admit(caller, len(valid))
        stored = admitted(
            lambda: storage.create_evaluations([s for _, s in valid], max_queued=caller.max_queued)
        )
        enqueue_many([item for item, _ in valid], stored, storage, queue, caller.max_running)
    return batch_result(items)


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
    stored_items: list[BatchItem],
    stored: Sequence[EvaluationSummary],
    storage: StorageClient,
    queue: EvaluationQueue,
    max_running: int | None,
) -> None:
    """Queues what was stored (`stored_items[n]` is the item of `stored[n]`)."""
    failure = _enqueue_or_close(stored, storage, queue, max_running)
    for item, evaluation in zip(stored_items, stored, strict=True):
        if failure is not None:
            item.errors = [f"{_QUEUE_DOWN}: {failure}"]
        else:
            item.id = evaluation.id
            item.label = evaluation.label


def batch_result(items: list[BatchItem]) -> BatchResult:
    accepted = sum(1 for item in items if item.id is not None)
    return BatchResult(accepted=accepted, rejected=len(items) - accepted, items=items)


def admitted(store: Callable[[], T]) -> T:
    """What `store` (a storage call that counts against the key's backlog) answers,
    or 429 with storage's estimate of when it would fit."""
    try:
        return store()
    except BacklogFull as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=str(exc),
            headers={"Retry-After": str(exc.retry_after_seconds)},
        ) from exc


def _enqueue_or_close(
    evaluations: Sequence[EvaluationSummary],
    storage: StorageClient,
    queue: EvaluationQueue,
    max_running: int | None,
) -> QueueUnavailable | None:
    """Queues stored evaluations, or says why it could not and closes them: the
    records exist but will never run, and nothing accepted may be left
    without a terminal status."""
    try:
        queue.enqueue(evaluations, max_running=max_running)
    except QueueUnavailable as exc:
        for evaluation in evaluations:
            storage.fail(evaluation.id, FailCommand(reason=f"could not be queued: {exc}"))
        return exc
    for evaluation in evaluations:
        SUBMISSIONS.labels(evaluation.priority.value).inc()
    return None


def _describe(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]
