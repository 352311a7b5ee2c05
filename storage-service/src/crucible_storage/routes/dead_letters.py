"""`/dead-letters`: evaluations the platform gave up on, and running them again."""

from fastapi import APIRouter, status

from crucible_shared.limits import LIST_PAGE_SIZE
from crucible_shared.schemas.evaluations import DeadLetter, Evaluation
from crucible_storage.routes.deps import PageSize, StorageDep

router = APIRouter(prefix="/dead-letters", tags=["dead-letters"])


@router.get("")
def list_dead_letters(
    storage: StorageDep, limit: PageSize = LIST_PAGE_SIZE.default
) -> list[DeadLetter]:
    return storage.dead_letters(limit=limit)


@router.post("/{dead_letter_id}/requeue", status_code=status.HTTP_201_CREATED)
def requeue_dead_letter(dead_letter_id: str, storage: StorageDep) -> Evaluation:
    return storage.requeue_dead_letter(dead_letter_id)
