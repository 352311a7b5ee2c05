from fastapi import APIRouter, HTTPException, status

from crucible_api.auth import Reader
from crucible_api.deps import FleetDep, QueueDep
from crucible_api.queueing import QueueUnavailable
from crucible_shared.schemas.queue import QueueOverview

router = APIRouter(prefix="/queue", tags=["queue"])


@router.get("", responses={503: {"description": "Redis is unavailable."}})
def read_queue(caller: Reader, queue: QueueDep, fleet: FleetDep) -> QueueOverview:
    """Depth per priority, workers online, executors and their slots, leases held."""
    try:
        return fleet.overview(queue.depths())
    except QueueUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"the queue (Redis) is unavailable: {exc}"
        ) from exc
