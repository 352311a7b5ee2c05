"""`/batches`: the internal API that `crucible_shared.storage_client` calls."""

from typing import Annotated

from fastapi import APIRouter, Query, status

from crucible_shared.ids import ID_PATTERN
from crucible_shared.limits import BATCH_RESULTS_PAGE, LIST_PAGE_SIZE
from crucible_shared.schemas.batches import (
    BatchCancel,
    BatchCancelled,
    BatchPage,
    BatchProgress,
    FinishedPage,
    NewBatch,
    StoredBatch,
)
from crucible_storage.routes.deps import PageSize, StorageDep

router = APIRouter(prefix="/batches", tags=["batches"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_batch(new: NewBatch, storage: StorageDep) -> StoredBatch:
    """The batch and its evaluations, all or none."""
    return storage.create_batch(new)


@router.get("")
def list_batches(
    storage: StorageDep,
    owner: Annotated[str | None, Query(pattern=f"^{ID_PATTERN}$")] = None,
    limit: PageSize = LIST_PAGE_SIZE.default,
    cursor: str | None = None,
) -> BatchPage:
    return storage.batches(owner=owner, limit=limit, cursor=cursor)


@router.get("/{batch_id}")
def read_batch(batch_id: str, storage: StorageDep) -> BatchProgress:
    return storage.batch(batch_id)


@router.post("/{batch_id}/cancel")
def cancel_batch(batch_id: str, command: BatchCancel, storage: StorageDep) -> BatchCancelled:
    """Cancels what of it is still queued or running; the ids it cancelled."""
    return storage.cancel_batch(batch_id, command)


@router.get("/{batch_id}/finished")
def read_finished(
    batch_id: str,
    storage: StorageDep,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=BATCH_RESULTS_PAGE)] = BATCH_RESULTS_PAGE,
) -> FinishedPage:
    """Finished evaluations in the order they finished, after `cursor`."""
    return storage.finished(batch_id, cursor=cursor, limit=limit)
