from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from crucible_api.deps import QueueDep, StorageDep
from crucible_api.queueing import QueueUnavailable
from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import (
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent

router = APIRouter(prefix="/evaluations", tags=["evaluations"])

_NOT_FOUND = {404: {"description": "No evaluation has this id."}}
_UNAVAILABLE = {503: {"description": "A dependency (storage or queue) is unavailable."}}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={413: {"description": "The body exceeds 2 MiB."}, **_UNAVAILABLE},
)
def submit_evaluation(
    submission: EvaluationCreate, storage: StorageDep, queue: QueueDep
) -> Evaluation:
    """Accept code to run; it is queued by priority and runs in a sandbox."""
    evaluation = storage.create_evaluation(submission)
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
    return evaluation


@router.get("/{evaluation_id}", responses=_NOT_FOUND)
def read_evaluation(evaluation_id: str, storage: StorageDep) -> Evaluation:
    return storage.get_evaluation(evaluation_id)


@router.get("/{evaluation_id}/events", responses=_NOT_FOUND)
def read_evaluation_events(evaluation_id: str, storage: StorageDep) -> list[EvaluationEvent]:
    """Every status the evaluation went through, in order."""
    return storage.list_events(evaluation_id)


@router.get("")
def list_evaluations(
    storage: StorageDep,
    status: EvaluationStatus | None = None,
    priority: Priority | None = None,
    since: Annotated[datetime | None, Query(description="Created at or after (ISO 8601).")] = None,
    limit: Annotated[
        int, Query(ge=limits.LIST_PAGE_SIZE.minimum, le=limits.LIST_PAGE_SIZE.maximum)
    ] = limits.LIST_PAGE_SIZE.default,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> EvaluationPage:
    """Summaries, newest first, a page at a time."""
    return storage.list_evaluations(
        status=status,
        priority=priority,
        since=since.isoformat() if since else None,
        limit=limit,
        cursor=cursor,
    )
