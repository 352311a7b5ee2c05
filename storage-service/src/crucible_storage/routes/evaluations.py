"""`/evaluations`: the internal API that `crucible_shared.storage_client` calls."""

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, status
from fastapi.responses import StreamingResponse

from crucible_shared import limits
from crucible_shared.limits import LIST_PAGE_SIZE, MAX_BATCH_SIZE
from crucible_shared.schemas.commands import (
    Claim,
    ClaimCommand,
    FailCommand,
    FinishCommand,
    RequeueCommand,
    StartCommand,
)
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
MaxQueued = Annotated[
    int | None,
    Query(
        ge=1,
        le=limits.MAX_QUEUED_PER_KEY.maximum,
        description="The owner's backlog bound: refused with 429 if these would exceed it.",
    ),
]


@router.post("/evaluations", status_code=status.HTTP_201_CREATED)
def create_evaluation(
    submission: OwnedSubmission, storage: StorageDep, max_queued: MaxQueued = None
) -> Evaluation:
    (evaluation,) = storage.create([submission], max_queued=max_queued)
    return evaluation


@router.post("/evaluations/batch", status_code=status.HTTP_201_CREATED)
def create_evaluations(
    submissions: Annotated[list[OwnedSubmission], Body(max_length=MAX_BATCH_SIZE)],
    storage: StorageDep,
    max_queued: MaxQueued = None,
) -> list[EvaluationSummary]:
    """All or none, in the order given; one owner's."""
    return [
        EvaluationSummary.model_validate(evaluation.model_dump())
        for evaluation in storage.create(submissions, max_queued=max_queued)
    ]


@router.post("/evaluations/{evaluation_id}/claim")
def claim_evaluation(evaluation_id: str, command: ClaimCommand, storage: StorageDep) -> Claim:
    """`queued` to `provisioning`, one more attempt; 409 if it is not queued."""
    return storage.claim(evaluation_id, command)


@router.post("/evaluations/{evaluation_id}/start")
def start_evaluation(
    evaluation_id: str, command: StartCommand, storage: StorageDep
) -> EvaluationSummary:
    return storage.start(evaluation_id, command)


@router.post("/evaluations/{evaluation_id}/finish")
def finish_evaluation(
    evaluation_id: str, command: FinishCommand, storage: StorageDep
) -> EvaluationSummary:
    return storage.finish(evaluation_id, command)


@router.post("/evaluations/{evaluation_id}/requeue")
def requeue_evaluation(
    evaluation_id: str, command: RequeueCommand, storage: StorageDep
) -> EvaluationSummary:
    """Back to `queued`, or `failed` once its attempts are spent: the answer's status says."""
    return storage.requeue(evaluation_id, command)


@router.post("/evaluations/{evaluation_id}/fail")
def fail_evaluation(
    evaluation_id: str, command: FailCommand, storage: StorageDep
) -> EvaluationSummary:
    return storage.fail(evaluation_id, command)


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
