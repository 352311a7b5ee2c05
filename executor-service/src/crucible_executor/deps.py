"""What routes need from the running app, as named dependencies."""

from typing import Annotated, cast

from fastapi import Depends, Request

from crucible_executor.capacity import Capacity
from crucible_executor.runs import RunningEvaluations
from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.settings import ExecutorSettings


def get_settings(request: Request) -> ExecutorSettings:
    return cast(ExecutorSettings, request.app.state.settings)


def get_backend(request: Request) -> SandboxBackend:
    return cast(SandboxBackend, request.app.state.backend)


def get_capacity(request: Request) -> Capacity:
    return cast(Capacity, request.app.state.capacity)


def get_runs(request: Request) -> RunningEvaluations:
    return cast(RunningEvaluations, request.app.state.runs)


SettingsDep = Annotated[ExecutorSettings, Depends(get_settings)]
BackendDep = Annotated[SandboxBackend, Depends(get_backend)]
CapacityDep = Annotated[Capacity, Depends(get_capacity)]
RunsDep = Annotated[RunningEvaluations, Depends(get_runs)]
