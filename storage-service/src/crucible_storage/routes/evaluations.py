"""`/evaluations`: the internal API that `crucible_shared.storage_client` calls."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, status
from fastapi.responses import StreamingResponse

from crucible_shared.limits import LIST_PAGE_SIZE, MAX_BATCH_SIZE
from crucible_shared.schemas.evaluations import (
    Evaluation,
    EvaluationCount,
    EvaluationFilter,
    EvaluationPage,
    EvaluationSummary,
    EvaluationUpdate,
    OwnedSubmission,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.statistics import StatisticsReport
from crucible_storage.routes.deps import PageSize, StorageDep

router = APIRouter(tags=["evaluations"])
Filter = Annotated[EvaluationFilter, Query()]


@router.post("/evaluations", status_code=status.HTTP_201_CREATED)
def create_evaluation(submission: OwnedSubmission, storage: StorageDep) -> Evaluation:
    (evaluation,) = storage.create([submission])
    return evaluation


@router.post("/evaluations/batch", status_code=status.HTTP_201_CREATED)
def create_evaluations(
    submissions: Annotated[list[OwnedSubmission], Body(max_length=MAX_BATCH_SIZE)],
    storage: StorageDep,
) -> list[EvaluationSummary]:
    """All or none, in the order given."""
    return [
        EvaluationSummary.model_validate(evaluation.model_dump())
        for evaluation in storage.create(submissions)
    ]


@router.get("/evaluations")
def list_evaluations(
    storage: StorageDep,
    where: Filter,
    limit: PageSize = LIST_PAGE_SIZE.default,
    cursor: Annotated[str | None, Query(description="A page's `next_cursor`.")] = None,
) -> EvaluationPage:
    return storage.page(where, limit=limit, cursor=cursor)


@router.get("/evaluations/count")
def count_evaluations(storage: StorageDep, where: Filter) -> EvaluationCount:
    return EvaluationCount(count=storage.count(where))


@router.get("/evaluations/{evaluation_id}")
def read_evaluation(evaluation_id: str, storage: StorageDep) -> Evaluation:
    return storage.get(evaluation_id)


@router.patch("/evaluations/{evaluation_id}")
def update_evaluation(
    evaluation_id: str, update: EvaluationUpdate, storage: StorageDep
) -> Evaluation:
    return storage.update(evaluation_id, update)


@router.delete("/evaluations/{evaluation_id}")
def delete_evaluation(evaluation_id: str, storage: StorageDep) -> Evaluation:
    return storage.delete(evaluation_id)


@router.post("/evaluations/{evaluation_id}/restore")
def restore_evaluation(evaluation_id: str, storage: StorageDep) -> Evaluation:
    return storage.restore(evaluation_id)


@router.get("/evaluations/{evaluation_id}/events")
def list_events(evaluation_id: str, storage: StorageDep) -> list[EvaluationEvent]:
    return storage.events(evaluation_id)


@router.get("/evaluations/{evaluation_id}/output/{stream}")
def read_output(
    evaluation_id: str, stream: Literal["stdout", "stderr"], storage: StorageDep
) -> StreamingResponse:
    # Resolved before the response starts, so that a missing one is a 404.
    chunks = storage.output(evaluation_id, stream)
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


@router.get("/statistics")
def read_statistics(storage: StorageDep) -> StatisticsReport:
    return storage.statistics()


@router.post("/purge")
def purge(storage: StorageDep) -> dict[str, int]:
    """Removes evaluations deleted longer ago than the retention, with their blobs."""
    return {"purged": len(storage.purge())}
