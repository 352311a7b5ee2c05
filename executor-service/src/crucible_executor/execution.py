"""One evaluation running in the background, its events queued for whoever streams them."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from crucible_executor import metrics
from crucible_executor.sandbox.base import SandboxBackend, SandboxUnavailable
from crucible_shared.schemas.execution import (
    ExecutionCancelled,
    ExecutionEvent,
    ExecutionFailed,
    ExecutionFinished,
    ExecutionRequest,
    ExecutionStarted,
)

logger = logging.getLogger(__name__)


class Execution:
    """Runs from construction; `cancel()` kills the sandbox.

    `release` is called once the sandbox is gone, however the run ends, and
    before the last event is queued: a client that sends its next request as
    soon as it reads `finished` must find the slot free.
    """

    def __init__(
        self,
        backend: SandboxBackend,
        request: ExecutionRequest,
        *,
        executor_id: str,
        uid: int,
        release: Callable[[], None],
    ) -> None:
        self._events: asyncio.Queue[ExecutionEvent] = asyncio.Queue()
        self._executor_id = executor_id
        self._abort_reason: str | None = None
        self._evaluation_id = request.evaluation_id
        self._task = asyncio.create_task(self._run(backend, request, uid, release))

    async def events(self) -> AsyncIterator[ExecutionEvent]:
        """`started` if the sandbox came up, then the one terminal event."""
        while True:
            event = await self._events.get()
            yield event
            if not isinstance(event, ExecutionStarted):
                return

    def cancel(self) -> None:
        self._task.cancel()

    def abort(self, reason: str) -> None:
        """Kills the sandbox and reports `failed`: the platform, not the program, ended it."""
        self._abort_reason = reason
        self._task.cancel()

    async def _run(
        self,
        backend: SandboxBackend,
        request: ExecutionRequest,
        uid: int,
        release: Callable[[], None],
    ) -> None:
        event: ExecutionFinished | ExecutionFailed
        try:
            try:
                result = await backend.run(request, self._announce_start, uid=uid)
            finally:
                release()
        except asyncio.CancelledError:
            # Whoever still listens (a worker, when the evaluation was cancelled
            # by request) learns that the sandbox is gone.
            if self._abort_reason is not None:
                metrics.RUNS.labels("failed").inc()
                self._events.put_nowait(ExecutionFailed(error=self._abort_reason))
            else:
                metrics.RUNS.labels("cancelled").inc()
                self._events.put_nowait(ExecutionCancelled())
            raise
        except SandboxUnavailable as exc:
            logger.error("evaluation %s could not run: %s", request.evaluation_id, exc)
            event = ExecutionFailed(error=str(exc))
        except Exception as exc:
            # The client is owed a terminal event even when the executor has a bug.
            logger.exception("evaluation %s: executor error", request.evaluation_id)
            event = ExecutionFailed(error=f"executor error: {exc!r}")
        else:
            event = ExecutionFinished(result=result)
            metrics.RUN_TIME.observe(result.duration_ms / 1000)
            logger.info("evaluation %s finished: %s", request.evaluation_id, result.outcome)
        metrics.RUNS.labels(_how_it_ended(event)).inc()
        self._events.put_nowait(event)

    async def _announce_start(self) -> None:
        logger.info("evaluation %s started", self._evaluation_id)
        self._events.put_nowait(ExecutionStarted(executor=self._executor_id))


def _how_it_ended(event: ExecutionFinished | ExecutionFailed) -> str:
    return event.result.outcome.value if isinstance(event, ExecutionFinished) else event.type
