"""A batch's progress and its results cursor, the same for every backend.

Backends count a batch's evaluations by (status, outcome) and hand over its
earliest start and latest finish; the progress is computed here. A result's
cursor is its place in the order the batch's evaluations finished, which
every backend hands out under the lock that stores the finish, so that a
reader who has seen the n-th has seen every one before it.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from crucible_shared.lifecycle import EvaluationStatus, Outcome
from crucible_shared.schemas.batches import Batch, BatchProgress
from crucible_storage.errors import RequestRejected


@dataclass(frozen=True)
class BatchCounts:
    batch: Batch
    counts: list[tuple[EvaluationStatus, Outcome | None, int]]
    started_at: datetime | None
    finished_at: datetime | None


def progress(counts: BatchCounts) -> BatchProgress:
    by_status: Counter[EvaluationStatus] = Counter()
    by_outcome: Counter[Outcome] = Counter()
    for status, outcome, number in counts.counts:
        by_status[status] += number
        if outcome is not None:
            by_outcome[outcome] += number
    finished = sum(number for status, number in by_status.items() if status.is_terminal)
    done = finished == counts.batch.total
    return BatchProgress(
        **counts.batch.model_dump(),
        by_status=dict(by_status),
        by_outcome=dict(by_outcome),
        finished=finished,
        done=done,
        started_at=counts.started_at,
        finished_at=counts.finished_at if done else None,
    )


def encode_cursor(finish_sequence: int) -> str:
    return str(finish_sequence)


def decode_cursor(cursor: str | None) -> int:
    """The finish sequence after which to read; 0 reads from the start."""
    if cursor is None:
        return 0
    if not (cursor.isascii() and cursor.isdigit()) or len(cursor) > 9:
        raise RequestRejected("cursor is malformed: pass a result's `cursor` back unchanged")
    return int(cursor)
