"""The floor: the hello-world program through a sandbox backend alone, in this process.

The executor's own backend classes, opened as the executor opens them, with
no HTTP, queue, worker or storage around them: what any platform built on
this sandbox would pay at the least.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from bench.stats import LatencySummary
from bench.workload import HELLO_CODE, HELLO_STDOUT
from crucible_executor.sandbox.backends import open_backend
from crucible_executor.sandbox.base import SandboxBackend
from crucible_shared.lifecycle import Outcome
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.settings import ExecutorSettings

BackendName = Literal["process", "docker"]
# Its own id: its cgroups, workspaces and containers never meet a running executor's.
_EXECUTOR_ID = "bench-floor"
_WARM_UP_RUNS = 2


class UidSlots:
    """Slots as the executor gives them: each run at once as a uid of its own,
    so that concurrent runs share no per-uid budget."""

    def __init__(self, settings: ExecutorSettings, count: int) -> None:
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for slot in range(count):
            self._free.put_nowait(settings.sandbox_uid_base + slot)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        uid = await self._free.get()
        try:
            yield uid
        finally:
            self._free.put_nowait(uid)


@dataclass(frozen=True)
class FloorResult:
    latency: LatencySummary
    sequential_successes: int
    parallelism: int
    throughput_runs: int
    throughput_successes: int
    throughput_per_second: float


async def measure_floor(
    backend_name: BackendName, *, sequential_runs: int, throughput_runs: int, parallelism: int
) -> FloorResult:
    settings = ExecutorSettings(
        executor_backend=backend_name, executor_id=_EXECUTOR_ID, executor_capacity=parallelism
    )
    uid = settings.sandbox_uid_base
    with open_backend(settings) as backend:
        for _ in range(_WARM_UP_RUNS):
            await _run_once(backend, uid)
        sequential = [await _run_once(backend, uid) for _ in range(sequential_runs)]

        slots = UidSlots(settings, parallelism)

        async def in_a_slot() -> tuple[float, bool]:
            async with slots.slot() as slot_uid:
                return await _run_once(backend, slot_uid)

        started = time.perf_counter()
        parallel = await asyncio.gather(*(in_a_slot() for _ in range(throughput_runs)))
        elapsed = time.perf_counter() - started
    return FloorResult(
        latency=LatencySummary.of([seconds for seconds, _ in sequential]),
        sequential_successes=sum(ok for _, ok in sequential),
        parallelism=parallelism,
        throughput_runs=throughput_runs,
        throughput_successes=sum(ok for _, ok in parallel),
        throughput_per_second=throughput_runs / elapsed,
    )


async def _run_once(backend: SandboxBackend, uid: int) -> tuple[float, bool]:
    async def started() -> None:
        pass

    request = ExecutionRequest(evaluation_id=f"bench-{uuid.uuid4().hex}", code=HELLO_CODE)
    begin = time.perf_counter()
    result = await backend.run(request, started, uid=uid)
    seconds = time.perf_counter() - begin
    return seconds, result.outcome is Outcome.SUCCESS and result.stdout == HELLO_STDOUT
