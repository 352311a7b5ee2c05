from contextlib import suppress
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status

from crucible_api.deps import FleetDep, QueueDep, StorageDep
from crucible_api.metrics import SUBMISSIONS
from crucible_api.queueing import QueueUnavailable
from crucible_api.submission import enqueue_or_close
from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import (
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationPublic,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.storage_client import TransitionRefused

router = APIRouter(prefix="/evaluations", tags=["evaluations"])

_Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: _Responses = {404: {"description": "No evaluation has this id."}}
_UNAVAILABLE: _Responses = {503: {"description": "A dependency (storage or queue) is unavailable."}}


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
    enqueue_or_close(evaluation, storage, queue)
    SUBMISSIONS.labels(evaluation.priority.value).inc()
    return evaluation


@router.get("/{evaluation_id}", responses=_NOT_FOUND)
def read_evaluation(evaluation_id: str, storage: StorageDep, queue: QueueDep) -> EvaluationPublic:
    evaluation = storage.get_evaluation(evaluation_id)
    position = None
    # Without Redis, the evaluation is still worth showing without its place in line.
    if evaluation.status is EvaluationStatus.QUEUED:
        with suppress(QueueUnavailable):
            position = queue.position(evaluation.id, evaluation.priority)
    return EvaluationPublic(**evaluation.model_dump(), queue_position=position)


@router.post(
    "/{evaluation_id}/cancel",
    responses={**_NOT_FOUND, 409: {"description": "It has already finished."}},
)
def cancel_evaluation(evaluation_id: str, storage: StorageDep, fleet: FleetDep) -> Evaluation:
    """Stop it: a queued evaluation never starts; a running one has its sandbox killed."""
    current = storage.get_evaluation(evaluation_id)
    if current.status.is_terminal:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail=f"evaluation {evaluation_id} is already {current.status}; "
            "only queued or running evaluations can be cancelled",
        )
    try:
        cancelled = storage.update_evaluation(
            evaluation_id,
            EvaluationUpdate(status=EvaluationStatus.CANCELLED, detail="cancelled by request"),
        )
    except TransitionRefused as exc:  # it finished while we looked
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    # The executor running it, if any, kills its sandbox on hearing this; the
    # worker's later updates are refused because the status is terminal.
    fleet.announce_cancellation(evaluation_id)
    return cancelled


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
