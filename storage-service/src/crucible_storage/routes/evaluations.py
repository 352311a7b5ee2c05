"""`/evaluations`: the internal API that `crucible_shared.storage_client` calls."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.limits import LIST_PAGE_SIZE
from crucible_shared.schemas.evaluations import (
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_storage.errors import RequestRejected
from crucible_storage.routes.deps import BackendDep, PageSize

router = APIRouter(prefix="/evaluations", tags=["evaluations"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_evaluation(submission: EvaluationCreate, backend: BackendDep) -> Evaluation:
    return backend.create_evaluation(submission)


@router.get("")
def list_evaluations(
    backend: BackendDep,
    status: EvaluationStatus | None = None,
    priority: Priority | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601; UTC if no offset.")] = None,
    limit: PageSize = LIST_PAGE_SIZE.default,
    cursor: Annotated[str | None, Query(description="A page's `next_cursor`.")] = None,
) -> EvaluationPage:
    return backend.list_evaluations(
        status=status,
        priority=priority,
        since=None if since is None else _as_utc(since),
        limit=limit,
        cursor=cursor,
    )


@router.get("/{evaluation_id}")
def read_evaluation(evaluation_id: str, backend: BackendDep) -> Evaluation:
    return backend.get_evaluation(evaluation_id)


@router.patch("/{evaluation_id}")
def update_evaluation(
    evaluation_id: str, update: EvaluationUpdate, backend: BackendDep
) -> Evaluation:
    return backend.apply_update(evaluation_id, update)


@router.get("/{evaluation_id}/events")
def list_events(evaluation_id: str, backend: BackendDep) -> list[EvaluationEvent]:
    return backend.list_events(evaluation_id)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise RequestRejected(f"since {moment.isoformat()} is out of range") from None
