from typing import Any

from fastapi import APIRouter, HTTPException, status

from crucible_executor.deps import BackendDep, CapacityDep, RunsDep, SettingsDep
from crucible_executor.event_stream import ExecutionStream
from crucible_executor.execution import Execution
from crucible_shared.schemas.execution import ExecutionRequest

router = APIRouter(tags=["execute"])

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "`started`, then `finished` or `failed`, one JSON object a line.",
        "content": {"application/x-ndjson": {}},
    },
    503: {"description": "Every slot of this executor is taken; try another or later."},
}


@router.post("/execute", response_class=ExecutionStream, responses=_STREAM_DOC)
async def execute(
    request: ExecutionRequest,
    settings: SettingsDep,
    backend: BackendDep,
    capacity: CapacityDep,
    runs: RunsDep,
) -> ExecutionStream:
    slot = capacity.claim()
    if slot is None:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"executor {settings.executor_id} is at capacity: "
            f"{capacity.limit} of {capacity.limit} evaluations running",
        )

    def release() -> None:
        capacity.release(slot)
        runs.discard(request.evaluation_id)

    execution = Execution(
        backend,
        request,
        executor_id=settings.executor_id,
        uid=capacity.uid(slot),
        release=release,
    )
    runs.add(request.evaluation_id, execution, request.lease_token)
    return ExecutionStream(execution, keepalive_seconds=settings.lease_ttl_seconds / 3)
