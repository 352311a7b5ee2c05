"""What route handlers receive, as named dependencies."""

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from crucible_api.fleet import Fleet
from crucible_api.queueing import EvaluationQueue
from crucible_api.quotas import Quotas
from crucible_api.updates import EvaluationUpdates
from crucible_shared import limits
from crucible_shared.storage_client import StorageClient


def app_state(name: str) -> Any:
    """A dependency handing the route `app.state.<name>`, made once at start-up;
    the type the route sees is the one its `Annotated` alias declares."""

    def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    return Depends(read)


StorageDep = Annotated[StorageClient, app_state("storage")]
QueueDep = Annotated[EvaluationQueue, app_state("queue")]
FleetDep = Annotated[Fleet, app_state("fleet")]
QuotasDep = Annotated[Quotas, app_state("quotas")]
UpdatesDep = Annotated[EvaluationUpdates, app_state("updates")]
PageSize = Annotated[int, Query(ge=limits.LIST_PAGE_SIZE.minimum, le=limits.LIST_PAGE_SIZE.maximum)]
