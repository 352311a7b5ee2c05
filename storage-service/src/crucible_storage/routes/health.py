"""Liveness (`/health`: the process answers), readiness (`/ready`: so do its stores)
and `/storage-info`: which backends, and how much they hold."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crucible_shared.schemas.storage import StorageInfo
from crucible_storage.routes.deps import StorageDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(storage: StorageDep) -> JSONResponse:
    if storage.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "storage unavailable"}, status_code=503)


@router.get("/storage-info")
def storage_info(storage: StorageDep) -> StorageInfo:
    return storage.info()
