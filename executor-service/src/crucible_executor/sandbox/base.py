"""What every sandbox backend provides; the routes know backends only through this."""

from collections.abc import Awaitable, Callable
from typing import Protocol

from crucible_shared.schemas.execution import ExecutionRequest, ExecutionResult

OnStarted = Callable[[], Awaitable[None]]


class SandboxUnavailable(Exception):
    """The platform could not run the program (a tool missing, namespaces refused, ...).

    Never raised for anything the program itself did: that is an outcome.
    """


class SandboxBackend(Protocol):
    @property
    def cgroup(self) -> str:
        """How the host's cgroups enforce the runs' limits (`v1`, `v2`, `none`, or the engine's)."""
        ...

    async def run(
        self, request: ExecutionRequest, on_started: OnStarted, *, uid: int
    ) -> ExecutionResult:
        """Run one program to its end under the request's limits, as host uid `uid`.

        `uid` is the executor slot's own: no other run at the same time has it.
        Awaits `on_started` once the sandbox process exists. Cancelling the call
        kills the sandbox and cleans up before the cancellation propagates.
        """
        ...

    def check(self) -> None:
        """Raise `SandboxUnavailable` if this backend cannot run programs on this host.

        Blocking; callers on an event loop run it in a thread.
        """
        ...
