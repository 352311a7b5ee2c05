"""`/api/batches`: many submissions in one request, followed and read back as one.

Access is as for evaluations: a researcher sees only their own batches (another's
answers 404), a viewer only reads, an admin sees all.
"""

import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from crucible_api.auth import BODY_RESPONSES, Reader, Submitter, owner_scope
from crucible_api.deps import PageSize, QueueDep, QuotasDep, StorageDep, UpdatesDep
from crucible_api.queueing import QueueUnavailable
from crucible_api.submission import admitted, batch_result, enqueue_many, validate_many
from crucible_api.updates import ChangeListener
from crucible_shared import limits
from crucible_shared.schemas.batches import (
    BatchCancel,
    BatchCreate,
    BatchPage,
    BatchProgress,
    BatchResultLine,
    BatchSubmitted,
    NewBatch,
)
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.storage_client import StorageClient

router = APIRouter(prefix="/batches", tags=["batches"])
_log = logging.getLogger(__name__)

_Responses = dict[int | str, dict[str, Any]]
_NOT_FOUND: _Responses = {404: {"description": "No batch has this id (that you may see)."}}
# A quiet batch is looked at this often all the same: a message published
# while Redis blinked is lost, and the stream must not wait for it for ever.
_READ_ANYWAY_SECONDS = 5.0


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **BODY_RESPONSES,
        400: {"description": "The body could not be parsed, or is not valid gzip."},
        413: {
            "description": f"The body exceeds {limits.MAX_BATCH_REQUEST_BYTES // limits.MIB} "
            "MiB (uncompressed, for a gzip body)."
        },
        422: {"description": f"Not 1 to {limits.MAX_BATCH_ITEMS} items, or a bad label."},
        429: {"description": "Over the key's quota; `Retry-After` says when to try again."},
        503: {"description": "A dependency (storage or queue) is unavailable."},
    },
)
def submit_batch(
    batch: BatchCreate, caller: Submitter, storage: StorageDep, queue: QueueDep, quotas: QuotasDep
) -> BatchSubmitted:
    """Accept up to 10,000 submissions at once (the body may be sent gzip-compressed).

    Each item is checked as `POST /api/evaluations` checks a submission; the
    valid ones are stored, with the batch, then queued; the others are
    reported by index, naming the field."""
    items, valid = validate_many(batch.items, caller.id)
    for index, raw in enumerate(batch.items):
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode())
        if size > limits.MAX_REQUEST_BYTES:
            items[index].errors = [
                f"items.{index}: is {size} bytes as JSON; the limit is "
                f"{limits.MAX_REQUEST_BYTES} bytes"
            ]
    valid = [(item, submission) for item, submission in valid if not item.errors]
    quotas.admit(caller, len(valid))
    stored = admitted(
        lambda: storage.create_batch(
            NewBatch(
                owner=caller.id,
                label=batch.label,
                submissions=[s for _, s in valid],
                max_queued=caller.max_queued,
            )
        )
    )
    stored_items = [item for item, _ in valid]
    enqueue_many(stored_items, stored.evaluations, storage, queue, caller.max_running)
    return BatchSubmitted(id=stored.batch.id, **batch_result(items).model_dump())


@router.get("", responses={422: {"description": "The cursor is malformed."}})
def list_batches(
    caller: Reader,
    storage: StorageDep,
    limit: PageSize = limits.LIST_PAGE_SIZE.default,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> BatchPage:
    """The batches the caller may see, newest first, with their progress."""
    return storage.list_batches(owner=owner_scope(caller), limit=limit, cursor=cursor)


@router.get("/{batch_id}", responses=_NOT_FOUND)
def read_batch(batch_id: str, caller: Reader, storage: StorageDep) -> BatchProgress:
    """How far it has got: counts by status and outcome, started and finished times."""
    return _visible(batch_id, caller, storage)


@router.post("/{batch_id}/cancel", responses=_NOT_FOUND)
def cancel_batch(
    batch_id: str, caller: Submitter, storage: StorageDep, queue: QueueDep
) -> BatchProgress:
    """Cancel everything of the batch still queued or running."""
    _visible(batch_id, caller, storage)
    stopped = storage.cancel_batch(batch_id, BatchCancel(detail=f"cancelled by {caller.name}"))
    # As for one evaluation (routes/evaluations.py `cancel`): storage's word is
    # final, and the queue is told so that dispatch skips them and executors
    # kill their sandboxes.
    try:
        queue.cancel(stopped.cancelled)
    except QueueUnavailable as exc:
        _log.warning("cancellation of batch %s not announced: %s", batch_id, exc)
    return storage.get_batch(batch_id)


@router.get(
    "/{batch_id}/results",
    response_class=StreamingResponse,
    responses={
        **_NOT_FOUND,
        200: {
            "content": {"application/x-ndjson": {}},
            "description": "One line per finished evaluation, in the order they finished: "
            "the evaluation as `GET /api/evaluations/{id}` serves it, with a `cursor`.",
        },
        422: {"description": "The cursor is malformed."},
    },
)
async def read_results(
    batch_id: str,
    caller: Reader,
    storage: StorageDep,
    updates: UpdatesDep,
    cursor: Annotated[
        str | None, Query(description="The `cursor` of the last line read: resume after it.")
    ] = None,
    wait: Annotated[
        bool, Query(description="Stay open, giving each evaluation as it finishes, until all have.")
    ] = False,
) -> StreamingResponse:
    """Every finished evaluation of the batch, as NDJSON, read from storage a page at a time."""
    # Subscribed before the first read: a finish committed in between is heard.
    listener = await updates.listen_to_batch(batch_id) if wait else ChangeListener(None)
    try:
        await run_in_threadpool(_visible, batch_id, caller, storage)
        # A malformed cursor is refused before the response starts.
        first = await run_in_threadpool(_page, storage, batch_id, cursor)
    except BaseException:
        await listener.close()
        raise
    return StreamingResponse(
        _lines(storage, batch_id, first, cursor, wait, listener),
        media_type="application/x-ndjson",
        # nginx buffers proxied responses unless told not to; results must flow.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _page(storage: StorageClient, batch_id: str, cursor: str | None) -> list[BatchResultLine]:
    return [
        BatchResultLine(**evaluation.model_dump())
        for evaluation in storage.finished_in_batch(batch_id, cursor=cursor).items
    ]


async def _lines(
    storage: StorageClient,
    batch_id: str,
    page: list[BatchResultLine],
    cursor: str | None,
    wait: bool,
    listener: ChangeListener,
) -> AsyncIterator[str]:
    try:
        done = False
        while True:
            for line in page:
                yield line.model_dump_json() + "\n"
            if page:
                cursor = page[-1].cursor
            if len(page) < limits.BATCH_RESULTS_PAGE:
                # Caught up with what has finished.
                if not wait or done:
                    return
                # Done is read before the last page: once every evaluation is
                # counted finished, the next read holds the rest of them.
                progress = await run_in_threadpool(storage.get_batch, batch_id)
                done = progress.done
                if not done:
                    await listener.wait(_READ_ANYWAY_SECONDS)
            page = await run_in_threadpool(_page, storage, batch_id, cursor)
    finally:
        await listener.close()


def _visible(batch_id: str, caller: StoredKey, storage: StorageClient) -> BatchProgress:
    batch = storage.get_batch(batch_id)
    scope = owner_scope(caller)
    if scope is not None and batch.owner != scope:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"batch {batch_id} not found")
    return batch
