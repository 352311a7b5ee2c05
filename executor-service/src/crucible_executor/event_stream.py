"""Newline-delimited JSON responses that stop their execution when the client leaves.

While nothing happens an empty line is sent every `keepalive_seconds`, so that
a worker tells an executor that went quiet (a host lost, not a process that
closed its socket) within a read timeout, rather than after the program's
whole time limit.
"""

import asyncio
from collections.abc import AsyncIterator

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from crucible_executor.execution import Execution


class ExecutionStream(StreamingResponse):
    """One JSON event per line; the execution is cancelled whenever the response ends.

    Starlette watches for a disconnect only on servers that speak ASGI < 2.4;
    a sandbox must never outlive its client, whatever the server, so this
    response always watches.
    """

    media_type = "application/x-ndjson"

    def __init__(self, execution: Execution, keepalive_seconds: float) -> None:
        super().__init__(_lines(execution, keepalive_seconds))
        self._execution = execution

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as task_group:

                async def stream_then_stop() -> None:
                    await self.stream_response(send)
                    task_group.cancel_scope.cancel()

                task_group.start_soon(stream_then_stop)
                await self.listen_for_disconnect(receive)
                task_group.cancel_scope.cancel()
        except* OSError:
            # Sending to a client that has gone: the same as a disconnect.
            pass
        finally:
            self._execution.cancel()


async def _lines(execution: Execution, keepalive_seconds: float) -> AsyncIterator[str]:
    events = execution.events()
    upcoming = asyncio.ensure_future(anext(events))
    try:
        while True:
            done, _ = await asyncio.wait({upcoming}, timeout=keepalive_seconds)
            if not done:
                yield "\n"
                continue
            try:
                event = upcoming.result()
            except StopAsyncIteration:
                return
            yield event.model_dump_json() + "\n"
            upcoming = asyncio.ensure_future(anext(events))
    finally:
        upcoming.cancel()
