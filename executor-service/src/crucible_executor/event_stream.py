"""Newline-delimited JSON responses that stop their execution when the client leaves."""

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

    def __init__(self, execution: Execution) -> None:
        super().__init__(_lines(execution))
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


async def _lines(execution: Execution) -> AsyncIterator[str]:
    async for event in execution.events():
        yield event.model_dump_json() + "\n"
