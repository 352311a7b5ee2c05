"""`GET /api/evaluations/{id}/stream`: an evaluation's changes as Server-Sent Events.

Each event is `event: evaluation` with the evaluation as `GET
/api/evaluations/{id}` serves it; the stream ends after a terminal status.
"""

import time
from collections.abc import AsyncIterator

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from crucible_api.auth import Reader
from crucible_api.deps import QueueDep, StorageDep, UpdatesDep
from crucible_api.queueing import EvaluationQueue
from crucible_api.routes.evaluations import public_evaluation, queue_position
from crucible_api.updates import ChangeListener
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.evaluations import EvaluationPublic
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.storage_client import EvaluationNotFound, StorageClient, StorageError

router = APIRouter(prefix="/evaluations", tags=["evaluations"])

# Proxies and browsers drop a connection that stays silent for long.
KEEP_ALIVE_SECONDS = 15.0
# A queued evaluation moves up its queue without a transition of its own.
QUEUE_POSITION_REFRESH_SECONDS = 1.0
# A quiet channel is read through this often all the same: a message published
# while Redis blinked is lost, and the stream must not wait for it for ever.
READ_ANYWAY_SECONDS = 15.0
# After a failed read, try again soon rather than wait for a message that was already sent.
RETRY_READ_SECONDS = 0.5

_HEADERS = {
    "Cache-Control": "no-cache",
    # nginx buffers proxied responses unless told not to; an event stream must flow.
    "X-Accel-Buffering": "no",
}


@router.get(
    "/{evaluation_id}/stream",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: evaluation` with the evaluation at once and after each "
            "change; ends after a terminal status. A comment every 15 s keeps it open.",
        },
        404: {"description": "No evaluation has this id."},
    },
)
async def stream_evaluation(
    evaluation_id: str, caller: Reader, storage: StorageDep, queue: QueueDep, updates: UpdatesDep
) -> StreamingResponse:
    """The evaluation now and after each change, as Server-Sent Events."""
    # Subscribed before the first read: a change committed in between is heard.
    listener = await updates.listen(evaluation_id)
    try:
        first = await _read(evaluation_id, caller, storage, queue)
    except BaseException:
        await listener.close()
        raise
    return StreamingResponse(
        _events(first, caller, storage, queue, listener),
        media_type="text/event-stream",
        headers=_HEADERS,
    )


async def _read(
    evaluation_id: str, caller: StoredKey, storage: StorageClient, queue: EvaluationQueue
) -> EvaluationPublic:
    return await run_in_threadpool(public_evaluation, evaluation_id, caller, storage, queue)


async def _events(
    evaluation: EvaluationPublic,
    caller: StoredKey,
    storage: StorageClient,
    queue: EvaluationQueue,
    listener: ChangeListener,
) -> AsyncIterator[str]:
    try:
        yield _event(evaluation)
        last_write = last_read = time.monotonic()
        stale = False
        while not evaluation.status.is_terminal:
            queued = evaluation.status is EvaluationStatus.QUEUED
            timeout = (
                RETRY_READ_SECONDS
                if stale
                else QUEUE_POSITION_REFRESH_SECONDS
                if queued
                else KEEP_ALIVE_SECONDS
            )
            changed = await listener.wait(timeout)
            fresh = evaluation
            if changed or stale or time.monotonic() - last_read >= READ_ANYWAY_SECONDS:
                last_read = time.monotonic()
                try:
                    fresh = await _read(evaluation.id, caller, storage, queue)
                except EvaluationNotFound:
                    return  # purged, or lost by storage: nothing more will come
                except StorageError:
                    stale = True
                else:
                    stale = False
            elif queued:
                # Only its place in line moved, if anything: Redis says where,
                # without a read of the whole evaluation from storage.
                position = await run_in_threadpool(queue_position, evaluation, queue)
                fresh = evaluation.model_copy(update={"queue_position": position})
            if fresh != evaluation:
                evaluation = fresh
                yield _event(evaluation)
                last_write = time.monotonic()
                continue
            if time.monotonic() - last_write >= KEEP_ALIVE_SECONDS:
                yield ": keep-alive\n\n"
                last_write = time.monotonic()
    finally:
        await listener.close()


def _event(evaluation: EvaluationPublic) -> str:
    return f"event: evaluation\ndata: {evaluation.model_dump_json()}\n\n"
