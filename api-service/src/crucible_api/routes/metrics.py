from fastapi import APIRouter
from starlette.responses import Response

from crucible_api import metrics
from crucible_api.deps import FleetDep, QueueDep
from crucible_api.queueing import QueueUnavailable

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def read_metrics(queue: QueueDep, fleet: FleetDep) -> Response:
    """Prometheus text format; the queue gauges keep their last values while Redis is away."""
    try:
        overview = fleet.overview(queue.depths())
    except QueueUnavailable:
        overview = None
    return metrics.render(overview)
