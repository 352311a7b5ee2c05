"""`/api/evaluations`: submitting, reading, cancelling, deleting and listing evaluations.

Every route takes the caller's key: researchers act on their own evaluations
only (another's answers 404, as if it did not exist); viewers only read.
"""

import logging
import time
from contextlib import suppress
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from crucible_api.auth import BODY_RESPONSES, Reader, Submitter, owner_scope, require_visible
from crucible_api.deps import PageSize, QueueDep, QuotasDep, StorageDep, UpdatesDep
from crucible_api.queueing import EvaluationQueue, QueueUnavailable
from crucible_api.submission import submit_many, submit_one
from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.evaluations import (
    BatchResult,
    Evaluation,
    EvaluationCount,
    EvaluationCreate,
    EvaluationFilter,
    EvaluationPage,
    EvaluationPublic,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.storage_client import StorageClient, TransitionRefused

router = APIRouter(prefix="/evaluations", tags=["evaluations"])
_log = logging.getLogger(__name__)

_Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: _Responses = {404: {"description": "No evaluation has this id (that you may see)."}}
_UNAVAILABLE: _Responses = {503: {"description": "A dependency (storage or queue) is unavailable."}}
_SUBMITTING: _Responses = {
    **BODY_RESPONSES,
    429: {
        "description": "Over the key's backlog or per-minute quota for now; `Retry-After` "
        "estimates when they will fit. What could never fit is a 422."
    },
    **_UNAVAILABLE,
}
Filter = Annotated[EvaluationFilter, Query()]
# How long a `?wait=` trusts the live-update channel before reading anyway.
_READ_ANYWAY_SECONDS = 5.0


@router.post("", status_code=status.HTTP_202_ACCEPTED, responses=_SUBMITTING)
def submit_evaluation(
    submission: EvaluationCreate,
    caller: Submitter,
    storage: StorageDep,
    queue: QueueDep,
    quotas: QuotasDep,
) -> Evaluation:
    """Accept code to run; it is queued by priority and runs in a sandbox."""
    return submit_one(submission, caller, storage, queue, quotas)


@router.post("/batch", status_code=status.HTTP_202_ACCEPTED, responses=_SUBMITTING)
def submit_batch(
    submissions: Annotated[
        list[dict[str, Any]],
        Body(
            min_length=1,
            max_length=limits.MAX_BATCH_SIZE,
            description=f"Up to {limits.MAX_BATCH_SIZE} submissions, each as `POST /evaluations` "
            "takes it.",
        ),
    ],
    caller: Submitter,
    storage: StorageDep,
    queue: QueueDep,
    quotas: QuotasDep,
) -> BatchResult:
    """Accept many at once: the valid ones are queued, the others reported by index.
    The valid ones count against the key's quotas together: all fit, or none is stored."""
    return submit_many(submissions, caller, storage, queue, quotas)


@router.get("/count")
def count_evaluations(caller: Reader, storage: StorageDep, where: Filter) -> EvaluationCount:
    """How many evaluations the filter matches, without listing them."""
    return EvaluationCount(count=storage.count_evaluations(_scoped(where, caller)))


@router.get("", responses={422: {"description": "A filter or the cursor is malformed."}})
def list_evaluations(
    caller: Reader,
    storage: StorageDep,
    where: Filter,
    limit: PageSize = limits.LIST_PAGE_SIZE.default,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> EvaluationPage:
    """Summaries, newest first, a page at a time; deleted ones only if asked."""
    return storage.list_evaluations(_scoped(where, caller), limit=limit, cursor=cursor)


@router.get("/{evaluation_id}", responses=_NOT_FOUND)
async def read_evaluation(
    evaluation_id: str,
    caller: Reader,
    storage: StorageDep,
    queue: QueueDep,
    updates: UpdatesDep,
    wait: Annotated[
        float | None,
        Query(
            gt=0,
            le=limits.MAX_WAIT_SECONDS,
            description="Seconds to wait for a terminal status before answering "
            f"(at most {limits.MAX_WAIT_SECONDS}): the answer comes as soon as it finishes.",
        ),
    ] = None,
) -> EvaluationPublic:
    if wait is None:
        return await run_in_threadpool(public_evaluation, evaluation_id, caller, storage, queue)
    deadline = time.monotonic() + wait
    # Subscribed before the first read: a change committed in between is heard.
    listener = await updates.listen(evaluation_id)
    try:
        while True:
            evaluation = await run_in_threadpool(
                public_evaluation, evaluation_id, caller, storage, queue
            )
            left = deadline - time.monotonic()
            if evaluation.status.is_terminal or left <= 0:
                return evaluation
            # A message lost while Redis blinked costs at most a re-read's interval.
            await listener.wait(min(left, _READ_ANYWAY_SECONDS))
    finally:
        await listener.close()


def public_evaluation(
    evaluation_id: str, caller: StoredKey, storage: StorageClient, queue: EvaluationQueue
) -> EvaluationPublic:
    """The evaluation as the API serves it, if the caller may see it."""
    evaluation = _visible(evaluation_id, caller, storage)
    return EvaluationPublic(
        **evaluation.model_dump(), queue_position=queue_position(evaluation, queue)
    )


def queue_position(evaluation: Evaluation, queue: EvaluationQueue) -> int | None:
    """Its place in its key's line while it is queued and Redis answers; else None.
    Without Redis, the evaluation is still worth showing without it."""
    if evaluation.status is not EvaluationStatus.QUEUED:
        return None
    with suppress(QueueUnavailable):
        return queue.position(evaluation.id)
    return None


@router.post(
    "/{evaluation_id}/cancel",
    responses={**_NOT_FOUND, 409: {"description": "It has already finished."}},
)
def cancel_evaluation(
    evaluation_id: str, caller: Submitter, storage: StorageDep, queue: QueueDep
) -> Evaluation:
    """Stop it: a queued evaluation never starts; a running one has its sandbox killed."""
    current = _visible(evaluation_id, caller, storage)
    if current.status.is_terminal:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"evaluation {evaluation_id} is already {current.status}; "
            "only queued or running evaluations can be cancelled",
        )
    try:
        return cancel(evaluation_id, caller, storage, queue)
    except TransitionRefused as exc:  # it finished while we looked
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc


def cancel(
    evaluation_id: str, caller: StoredKey, storage: StorageClient, queue: EvaluationQueue
) -> Evaluation:
    """Cancels an evaluation the caller may act on; `TransitionRefused` if it has finished."""
    cancelled = storage.update_evaluation(
        evaluation_id,
        EvaluationUpdate(status=EvaluationStatus.CANCELLED, detail=f"cancelled by {caller.name}"),
    )
    # Storage's word is final: a claim of it is refused from now on, and so is
    # any result. The queue is told so that dispatch skips it and an executor
    # running it kills its sandbox; should Redis be away, the lease the
    # executor can no longer renew ends the sandbox instead.
    try:
        queue.cancel([evaluation_id])
    except QueueUnavailable as exc:
        _log.warning("cancellation of %s not announced: %s", evaluation_id, exc)
    return cancelled


@router.get("/{evaluation_id}/events", responses=_NOT_FOUND)
def read_evaluation_events(
    evaluation_id: str, caller: Reader, storage: StorageDep
) -> list[EvaluationEvent]:
    """Every status the evaluation went through, and notable steps, in order."""
    _require_visible(evaluation_id, caller, storage)
    return storage.list_events(evaluation_id)


@router.delete(
    "/{evaluation_id}",
    responses={**_NOT_FOUND, 409: {"description": "It is still queued or running."}},
)
def delete_evaluation(evaluation_id: str, caller: Submitter, storage: StorageDep) -> Evaluation:
    """Hide it from lists; it can be restored until it is purged (`retention_days` later)."""
    _require_visible(evaluation_id, caller, storage)
    return storage.delete_evaluation(evaluation_id)


@router.post("/{evaluation_id}/restore", responses=_NOT_FOUND)
def restore_evaluation(evaluation_id: str, caller: Submitter, storage: StorageDep) -> Evaluation:
    _require_visible(evaluation_id, caller, storage)
    return storage.restore_evaluation(evaluation_id)


@router.get(
    "/{evaluation_id}/output/{stream}",
    responses={**_NOT_FOUND, 200: {"content": {"text/plain": {}}}},
    response_class=StreamingResponse,
)
def read_output(
    evaluation_id: str,
    stream: Literal["stdout", "stderr"],
    caller: Reader,
    storage: StorageDep,
) -> StreamingResponse:
    """The whole of what the program wrote to one stream, however large."""
    _require_visible(evaluation_id, caller, storage)
    chunks = storage.open_output(evaluation_id, stream)
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


def _visible(evaluation_id: str, caller: StoredKey, storage: StorageClient) -> Evaluation:
    evaluation = storage.get_evaluation(evaluation_id)
    require_visible(caller, evaluation)
    return evaluation


def _require_visible(evaluation_id: str, caller: StoredKey, storage: StorageClient) -> None:
    """Only a researcher's call needs the evaluation read first; for the other
    roles, the call that follows answers 404 itself if it does not exist."""
    if owner_scope(caller) is not None:
        _visible(evaluation_id, caller, storage)


def _scoped(where: EvaluationFilter, caller: StoredKey) -> EvaluationFilter:
    scope = owner_scope(caller)
    return where if scope is None else where.model_copy(update={"owner": scope})
