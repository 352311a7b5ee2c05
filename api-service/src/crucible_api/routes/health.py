from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crucible_api.deps import QueueDep, StorageDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """The API process is alive."""
    return {"status": "ok"}


@router.get("/ready")
def ready(storage: StorageDep, queue: QueueDep) -> JSONResponse:
    """The API's dependencies answer: the storage service and the broker."""
    checks = {"storage": storage.ready(), "broker": queue.ready()}
    status = 200 if all(checks.values()) else 503
    return JSONResponse(
        status_code=status,
        content={"status": "ready" if status == 200 else "unavailable", "checks": checks},
    )
