"""The evaluations this executor is running, by id, with the leases of their slots.

The executor, which knows when a sandbox lives and when it is gone, keeps
each run's lease: renewed at every heartbeat, and released once the sandbox
is gone. A lease it cannot renew ends the run.
"""

import asyncio
import logging
import time
from dataclasses import dataclass

from crucible_executor.execution import Execution
from crucible_shared.pool.leases import ExecutorPool

logger = logging.getLogger(__name__)


@dataclass
class _Run:
    execution: Execution
    lease_token: str | None
    # Until when (monotonic) the lease is sure to be held: past it, the run is
    # killed, so that it never outlives a lease the platform may have given away.
    secured_until: float


class RunningEvaluations:
    def __init__(self, pool: ExecutorPool | None = None, secure_seconds: float = 0.0) -> None:
        self._runs: dict[str, _Run] = {}
        self._pool = pool
        self._secure_seconds = secure_seconds
        self._releases: set[asyncio.Task[None]] = set()

    def add(self, evaluation_id: str, execution: Execution, lease_token: str | None) -> None:
        secured = time.monotonic() + self._secure_seconds
        self._runs[evaluation_id] = _Run(execution, lease_token, secured)

    def renewed(self, evaluation_ids: list[str], sent_at: float) -> None:
        """Their leases were renewed by a call sent at `sent_at` (monotonic)."""
        for evaluation_id in evaluation_ids:
            run = self._runs.get(evaluation_id)
            if run is not None:
                run.secured_until = max(run.secured_until, sent_at + self._secure_seconds)

    def unsecured(self) -> list[str]:
        """The runs holding a lease that may have lapsed by now."""
        now = time.monotonic()
        return [i for i, run in self._runs.items() if run.lease_token and run.secured_until <= now]

    def discard(self, evaluation_id: str) -> None:
        """The sandbox is gone: its slot goes back to the pool."""
        run = self._runs.pop(evaluation_id, None)
        if run is not None and run.lease_token is not None and self._pool is not None:
            task = asyncio.create_task(self._release(run.lease_token))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    def cancel(self, evaluation_id: str) -> bool:
        """Kills its sandbox; False when it does not run here."""
        run = self._runs.get(evaluation_id)
        if run is None:
            return False
        run.execution.cancel()
        return True

    def abort(self, evaluation_id: str, reason: str) -> None:
        """Kills its sandbox as a platform fault: the worker retries it."""
        run = self._runs.get(evaluation_id)
        if run is not None:
            run.execution.abort(reason)

    def ids(self) -> list[str]:
        return list(self._runs)

    def leases(self) -> dict[str, str]:
        """Evaluation id -> lease token, of the runs that hold one."""
        return {i: run.lease_token for i, run in self._runs.items() if run.lease_token}

    async def _release(self, lease_token: str) -> None:
        assert self._pool is not None
        try:
            await asyncio.to_thread(self._pool.release_lease, lease_token)
        except Exception as exc:  # the lease expires by itself
            logger.warning("lease %s not released: %s", lease_token, exc)
