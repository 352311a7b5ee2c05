from fastapi import APIRouter, status

from crucible_api.auth import Admin
from crucible_api.deps import PageSize, QueueDep, StorageDep
from crucible_api.submission import enqueue_or_close
from crucible_shared import limits
from crucible_shared.schemas.evaluations import DeadLetter, Evaluation

# Admins only: dead letters name everyone's evaluations.
router = APIRouter(prefix="/dead-letters", tags=["dead-letters"])


@router.get("")
def list_dead_letters(
    caller: Admin,
    storage: StorageDep,
    limit: PageSize = limits.LIST_PAGE_SIZE.default,
) -> list[DeadLetter]:
    """Evaluations the platform gave up on, newest first."""
    return storage.list_dead_letters(limit=limit)


@router.post(
    "/{dead_letter_id}/requeue",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        404: {"description": "No dead letter has this id."},
        409: {"description": "It was requeued already."},
    },
)
def requeue_dead_letter(
    dead_letter_id: str, caller: Admin, storage: StorageDep, queue: QueueDep
) -> Evaluation:
    """Run it again, as a new evaluation with the same submission."""
    evaluation = storage.requeue_dead_letter(dead_letter_id)
    # Its key's share of slots stays what its latest submission said.
    enqueue_or_close(evaluation, storage, queue, max_running=None)
    return evaluation
