"""Evaluations, their events and dead letters in the database, one function per operation.

Each function works inside the caller's transaction and returns the shared
schemas, never rows: nothing that leaves the session can lazy-load.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    LargeBinary,
    Select,
    delete,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session, defer

from crucible_shared.ids import is_canonical_id
from crucible_shared.lifecycle import TERMINAL_STATUSES
from crucible_shared.schemas.batches import Batch
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationFilter,
    EvaluationPage,
    EvaluationSummary,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.keys import StoredKey
from crucible_storage import rules
from crucible_storage.batches import BatchCounts
from crucible_storage.db.functions import byte_position
from crucible_storage.db.models import ApiKeyRow, BatchRow, DeadLetterRow, EvaluationRow, EventRow
from crucible_storage.errors import (
    AlreadyRequeued,
    BatchNotFound,
    DeadLetterNotFound,
    EvaluationNotFound,
    KeyNotFound,
)
from crucible_storage.pagination import Cursor
from crucible_storage.rules import Change
from crucible_storage.statistics import Tally, Timing

# A list shows summaries: it never loads the code or the outputs.
_WITHOUT_PROGRAM_TEXT = [
    defer(column, raiseload=True)
    for column in (
        EvaluationRow.code,
        EvaluationRow.stdin,
        EvaluationRow.stdout,
        EvaluationRow.stderr,
    )
]
_Query = TypeVar("_Query", bound=Select[Any])
_NEWEST_FIRST = (EvaluationRow.created_at.desc(), EvaluationRow.id.desc())


def insert(*, session: Session, evaluations: list[Evaluation]) -> None:
    for evaluation in evaluations:
        session.add(EvaluationRow(**evaluation.model_dump()))
        session.add(EventRow(**rules.first_event(evaluation).model_dump()))
    session.flush()


def insert_batch(*, session: Session, batch: Batch, evaluations: list[Evaluation]) -> None:
    session.add(BatchRow(**batch.model_dump(), finished=0))
    session.flush()  # before the evaluations that refer to it
    insert(session=session, evaluations=evaluations)


def batch_counts(*, session: Session, batch_id: str) -> BatchCounts:
    batch = _batch(session, batch_id)
    rows = session.execute(
        select(
            EvaluationRow.status,
            EvaluationRow.outcome,
            func.count(),
            func.min(EvaluationRow.started_at),
            func.max(EvaluationRow.finished_at),
        )
        .where(EvaluationRow.batch_id == batch_id)
        .group_by(EvaluationRow.status, EvaluationRow.outcome)
    ).all()
    starts = [started for *_, started, _ in rows if started is not None]
    finishes = [finished for *_, finished in rows if finished is not None]
    return BatchCounts(
        batch=batch,
        counts=[(status, outcome, number) for status, outcome, number, _, _ in rows],
        started_at=min(starts, default=None),
        finished_at=max(finishes, default=None),
    )


def list_batches(
    *, session: Session, owner: str | None, limit: int, cursor: str | None
) -> tuple[list[Batch], str | None]:
    query = select(BatchRow)
    if owner is not None:
        query = query.where(BatchRow.owner == owner)
    if cursor is not None:
        after = Cursor.decode(cursor)
        query = query.where(
            tuple_(BatchRow.created_at, BatchRow.id) < tuple_(after.created_at, after.evaluation_id)
        )
    rows = session.scalars(
        query.order_by(BatchRow.created_at.desc(), BatchRow.id.desc()).limit(limit + 1)
    ).all()
    page = [Batch.model_validate(row, from_attributes=True) for row in rows[:limit]]
    more = len(rows) > limit
    return page, Cursor(page[-1].created_at, page[-1].id).encode() if more else None


def finished(
    *, session: Session, batch_id: str, after: int, limit: int
) -> list[tuple[int, Evaluation]]:
    _batch(session, batch_id)
    rows = session.scalars(
        select(EvaluationRow)
        .where(EvaluationRow.batch_id == batch_id, EvaluationRow.finish_sequence > after)
        .order_by(EvaluationRow.finish_sequence)
        .limit(limit)
    )
    return [(row.finish_sequence or 0, _as_evaluation(row)) for row in rows]


def get(*, session: Session, evaluation_id: str) -> Evaluation:
    return _as_evaluation(_row(session, evaluation_id, lock=False))


def modify(
    *, session: Session, evaluation_id: str, decide: Callable[[Evaluation], Change]
) -> tuple[Evaluation, EvaluationEvent]:
    """The row stays locked until the transaction ends, so of two racing
    writes the second decides on what the first stored."""
    row = _row(session, evaluation_id, lock=True)
    change = decide(_as_evaluation(row))
    for field, value in change.evaluation.model_dump().items():
        setattr(row, field, value)
    if row.batch_id is not None and row.finish_sequence is None and row.status.is_terminal:
        # The batch's row stays locked until this commits: the finishes of
        # one batch commit in the order of their sequence numbers.
        batch = session.get(BatchRow, row.batch_id, with_for_update=True)
        assert batch is not None  # a foreign key
        batch.finished += 1
        row.finish_sequence = batch.finished
    last = select(func.max(EventRow.sequence)).where(EventRow.evaluation_id == evaluation_id)
    event = change.event((session.scalar(last) or 0) + 1)
    session.add(EventRow(**event.model_dump()))
    if change.dead_letter is not None:
        session.add(DeadLetterRow(**change.dead_letter.model_dump()))
    session.flush()
    return change.evaluation, event


def list_evaluations(
    *, session: Session, where: EvaluationFilter, limit: int, cursor: str | None
) -> EvaluationPage:
    query = _filtered(select(EvaluationRow).options(*_WITHOUT_PROGRAM_TEXT), where)
    if cursor is not None:
        after = Cursor.decode(cursor)
        query = query.where(
            tuple_(EvaluationRow.created_at, EvaluationRow.id)
            < tuple_(after.created_at, after.evaluation_id)
        )
    # One more than asked tells whether another page follows.
    rows = session.scalars(query.order_by(*_NEWEST_FIRST).limit(limit + 1)).all()
    page = rows[:limit]
    return EvaluationPage(
        items=[EvaluationSummary.model_validate(row, from_attributes=True) for row in page],
        next_cursor=Cursor(page[-1].created_at, page[-1].id).encode()
        if len(rows) > limit
        else None,
    )


def count(*, session: Session, where: EvaluationFilter) -> int:
    query = _filtered(select(func.count()).select_from(EvaluationRow), where)
    return session.scalar(query) or 0


def events(*, session: Session, evaluation_id: str) -> list[EvaluationEvent]:
    # Whether it exists, without loading its code and outputs.
    known = is_canonical_id(evaluation_id) and session.scalar(
        select(EvaluationRow.id).where(EvaluationRow.id == evaluation_id)
    )
    if not known:
        raise EvaluationNotFound(evaluation_id)
    rows = session.scalars(
        select(EventRow).where(EventRow.evaluation_id == evaluation_id).order_by(EventRow.sequence)
    )
    return [EvaluationEvent.model_validate(row, from_attributes=True) for row in rows]


def dead_letters(*, session: Session, limit: int) -> list[DeadLetter]:
    letters = session.scalars(
        select(DeadLetterRow)
        .order_by(DeadLetterRow.created_at.desc(), DeadLetterRow.id.desc())
        .limit(limit)
    )
    return [DeadLetter.model_validate(letter, from_attributes=True) for letter in letters]


def requeue(
    *, session: Session, dead_letter_id: str, resubmit: Callable[[Evaluation], Evaluation]
) -> Evaluation:
    """The dead letter stays locked until the transaction ends, so that two
    racing requeues cannot both create an evaluation."""
    letter = None
    if is_canonical_id(dead_letter_id):
        locked = select(DeadLetterRow).where(DeadLetterRow.id == dead_letter_id).with_for_update()
        letter = session.scalars(locked).one_or_none()
    if letter is None:
        raise DeadLetterNotFound(dead_letter_id)
    if letter.requeued_as is not None:
        raise AlreadyRequeued(dead_letter_id, letter.requeued_as)
    evaluation = resubmit(get(session=session, evaluation_id=letter.evaluation_id))
    insert(session=session, evaluations=[evaluation])
    letter.requeued_as = evaluation.id
    return evaluation


def tallies(*, session: Session) -> list[Tally]:
    rows = session.execute(
        select(EvaluationRow.priority, EvaluationRow.status, EvaluationRow.outcome, func.count())
        .where(EvaluationRow.deleted_at.is_(None))
        .group_by(EvaluationRow.priority, EvaluationRow.status, EvaluationRow.outcome)
    )
    return [Tally(priority, status, outcome, number) for priority, status, outcome, number in rows]


def timings(*, session: Session, finished_since: datetime) -> list[Timing]:
    rows = session.execute(
        select(
            EvaluationRow.priority,
            EvaluationRow.queued_at,
            EvaluationRow.started_at,
            EvaluationRow.finished_at,
        ).where(
            EvaluationRow.deleted_at.is_(None),
            EvaluationRow.finished_at >= finished_since,
        )
    )
    return [
        Timing(priority, queued_at, started_at, finished_at)
        for priority, queued_at, started_at, finished_at in rows
        if finished_at is not None
    ]


def purge(*, session: Session, deleted_before: datetime, limit: int) -> list[str]:
    """Removes up to `limit` evaluations deleted before `deleted_before`, and
    returns their ids: in batches, as a database bounds a statement's parameters."""
    doomed = (
        select(EvaluationRow.id)
        .where(EvaluationRow.deleted_at < deleted_before)
        .limit(limit)
        # Locked until removed: a restore waits, then finds nothing to restore.
        # One that locked first is skipped, not removed once it has committed.
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(doomed))
    if ids:
        session.execute(
            update(DeadLetterRow).where(DeadLetterRow.requeued_as.in_(ids)).values(requeued_as=None)
        )
        session.execute(delete(DeadLetterRow).where(DeadLetterRow.evaluation_id.in_(ids)))
        session.execute(delete(EventRow).where(EventRow.evaluation_id.in_(ids)))
        session.execute(delete(EvaluationRow).where(EvaluationRow.id.in_(ids)))
    return ids


def totals(*, session: Session) -> tuple[int, int]:
    # COUNT(column) counts the rows where it is not NULL: the deleted ones.
    everything, deleted = session.execute(
        select(func.count(), func.count(EvaluationRow.deleted_at))
    ).one()
    return everything, deleted


def insert_key(*, session: Session, key: StoredKey) -> None:
    session.add(ApiKeyRow(**key.model_dump()))
    session.flush()


def keys(*, session: Session) -> list[StoredKey]:
    rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id))
    return [StoredKey.model_validate(row, from_attributes=True) for row in rows]


def key_by_hash(*, session: Session, key_sha256: str) -> StoredKey:
    row = session.scalars(select(ApiKeyRow).where(ApiKeyRow.key_sha256 == key_sha256)).one_or_none()
    if row is None:
        raise KeyNotFound("with this hash")
    return StoredKey.model_validate(row, from_attributes=True)


def revoke_key(*, session: Session, key_id: str, at: datetime) -> StoredKey:
    row = session.get(ApiKeyRow, key_id) if is_canonical_id(key_id) else None
    if row is None:
        raise KeyNotFound(key_id)
    row.revoked_at = row.revoked_at or at
    session.flush()
    return StoredKey.model_validate(row, from_attributes=True)


def _row(session: Session, evaluation_id: str, *, lock: bool) -> EvaluationRow:
    row = None
    if is_canonical_id(evaluation_id):
        query = select(EvaluationRow).where(EvaluationRow.id == evaluation_id)
        row = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if row is None:
        raise EvaluationNotFound(evaluation_id)
    return row


def _batch(session: Session, batch_id: str) -> Batch:
    row = session.get(BatchRow, batch_id) if is_canonical_id(batch_id) else None
    if row is None:
        raise BatchNotFound(batch_id)
    return Batch.model_validate(row, from_attributes=True)


def _as_evaluation(row: EvaluationRow) -> Evaluation:
    return Evaluation.model_validate(row, from_attributes=True)


def _filtered(query: _Query, where: EvaluationFilter) -> _Query:
    conditions: list[ColumnElement[bool]] = []
    columns = {
        "status": EvaluationRow.status,
        "outcome": EvaluationRow.outcome,
        "priority": EvaluationRow.priority,
        "language": EvaluationRow.language,
        "image": EvaluationRow.image,
        "code_sha256": EvaluationRow.code_sha256,
        "owner": EvaluationRow.owner,
        "batch_id": EvaluationRow.batch_id,
    }
    for field, column in columns.items():
        value = getattr(where, field)
        if value is not None:
            conditions.append(column == value)
    if where.since is not None:
        conditions.append(EvaluationRow.created_at >= where.since)
    if where.until is not None:
        conditions.append(EvaluationRow.created_at < where.until)
    if where.queued_since is not None:
        conditions.append(EvaluationRow.queued_at >= where.queued_since)
    if where.queued_until is not None:
        conditions.append(EvaluationRow.queued_at < where.queued_until)
    if where.q is not None:
        conditions.append(_contains(EvaluationRow.code, where.q.encode("utf-8")))
    if where.active is not None:
        finished = EvaluationRow.status.in_(TERMINAL_STATUSES)
        conditions.append(~finished if where.active else finished)
    if not where.include_deleted:
        conditions.append(EvaluationRow.deleted_at.is_(None))
    return query.where(*conditions)


def _contains(column: InstrumentedAttribute[str], needle: bytes) -> ColumnElement[bool]:
    """A case-sensitive byte search, alike on every database (LIKE is not:
    SQLite's ignores ASCII case, and both give `%` and `_` meaning)."""
    return byte_position(column, literal(needle, LargeBinary)) > 0
