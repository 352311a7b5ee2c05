import anyio
from fastapi import APIRouter, HTTPException, status

from crucible_executor.deps import BackendDep
from crucible_executor.sandbox.base import SandboxUnavailable

router = APIRouter(tags=["health"])


@router.get("/health")
async def health() -> dict[str, str]:
    """The process answers; says nothing about whether it can run programs."""
    return {"status": "ok"}


@router.get("/ready")
async def ready(backend: BackendDep) -> dict[str, str]:
    """The backend can run a program on this host right now."""
    try:
        await anyio.to_thread.run_sync(backend.check)
    except SandboxUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)
        ) from exc
    return {"status": "ready"}
