"""Liveness (`/health`: the process answers) and readiness (`/ready`: so does the database)."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crucible_storage.routes.deps import BackendDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
def ready(backend: BackendDep) -> JSONResponse:
    if backend.ready():
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "storage unavailable"}, status_code=503)
