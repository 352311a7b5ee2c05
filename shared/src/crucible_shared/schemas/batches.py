"""A batch: many submissions made in one request, followed and read back as one."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from crucible_shared import limits
from crucible_shared.lifecycle import EvaluationStatus, Outcome
from crucible_shared.schemas.commands import MAX_REASON_CHARS
from crucible_shared.schemas.evaluations import (
    BatchItem,
    Evaluation,
    EvaluationPublic,
    EvaluationSummary,
    Label,
    OwnedSubmission,
)


class BatchCreate(BaseModel):
    """`POST /api/batches`: each item is checked as `POST /api/evaluations` checks
    a submission, so that one bad item is reported, not the whole batch refused."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[
        list[dict[str, Any]],
        Field(
            min_length=1,
            max_length=limits.MAX_BATCH_ITEMS,
            description=f"1 to {limits.MAX_BATCH_ITEMS} submissions, each as "
            "`POST /evaluations` takes it.",
        ),
    ]
    label: Label = None


class Batch(BaseModel):
    """A batch as stored."""

    id: str
    owner: str | None = Field(default=None, description="Id of the API key that submitted it.")
    label: str | None = None
    created_at: datetime
    total: int = Field(description="Evaluations in it (the items accepted).")


class NewBatch(BaseModel):
    """A batch as storage receives it (internal): stored with its evaluations, all or none."""

    owner: str | None = None
    label: str | None = None
    submissions: list[OwnedSubmission] = Field(max_length=limits.MAX_BATCH_ITEMS)
    max_queued: int | None = Field(
        default=None, ge=1, description="The owner's backlog bound, checked as it is stored."
    )


class BatchCancel(BaseModel):
    """Cancel what of a batch is still queued or running (internal)."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(max_length=MAX_REASON_CHARS, description="Recorded in each one's history.")


class BatchCancelled(BaseModel):
    cancelled: list[str] = Field(description="Ids of the evaluations this cancel stopped.")


class StoredBatch(BaseModel):
    batch: Batch
    evaluations: list[EvaluationSummary] = Field(description="In the order submitted.")


class BatchProgress(Batch):
    """`GET /api/batches/{id}`: how far a batch has got."""

    by_status: dict[EvaluationStatus, int]
    by_outcome: dict[Outcome, int]
    finished: int = Field(description="Evaluations in a terminal status.")
    done: bool = Field(description="Every evaluation is in a terminal status.")
    started_at: datetime | None = Field(default=None, description="When the first one started.")
    finished_at: datetime | None = Field(
        default=None, description="When the last one finished, once done."
    )


class BatchPage(BaseModel):
    items: list[BatchProgress]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; absent on the last."
    )


class FinishedEvaluation(Evaluation):
    """A finished evaluation of a batch, with its place in the order they finished (internal)."""

    cursor: str


class FinishedPage(BaseModel):
    items: list[FinishedEvaluation] = Field(description="In the order they finished.")


class BatchResultLine(EvaluationPublic):
    """A line of `GET /api/batches/{id}/results`."""

    cursor: str = Field(
        description="Pass the last one read as `?cursor=` to resume after it, "
        "without loss or repetition."
    )


class BatchSubmitted(BaseModel):
    """`POST /api/batches`' answer."""

    id: str = Field(description="The batch's id.")
    accepted: int
    rejected: int
    items: list[BatchItem] = Field(description="One per item, in the batch's order.")
