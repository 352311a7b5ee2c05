"""Evaluations and their events in the database, one function per operation.

Each function works inside the caller's transaction and returns the shared
schemas, never rows: nothing that leaves the session can lazy-load.
"""

from datetime import UTC, datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session, defer

from crucible_shared.lifecycle import EvaluationStatus, Priority, can_transition
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationSummary,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_storage.db.models import DeadLetterRow, EvaluationRow, EventRow
from crucible_storage.errors import (
    AlreadyRequeued,
    DeadLetterNotFound,
    EvaluationNotFound,
    RequestRejected,
    TransitionRefused,
)
from crucible_storage.ids import is_canonical_id, new_id
from crucible_storage.pagination import Cursor

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
_NEWEST_FIRST = (EvaluationRow.created_at.desc(), EvaluationRow.id.desc())
# `status` goes through the lifecycle check, `detail` to the event and
# `dead_letter` to a dead-letter record; every other field an update names
# is stored on the row as it is.
_HANDLED_APART = {"status", "detail", "dead_letter"}
# The range of the integer columns, the same on every database.
_INTEGER_RANGE = range(-(2**31), 2**31)
# Kept as text (not bytes) for people reading the database; PostgreSQL text
# cannot hold NUL.
_TEXT_COLUMNS = {"error", "executor", "image_digest", "detail"}


def create_evaluation(*, session: Session, submission: EvaluationCreate) -> Evaluation:
    now = _now()
    row = EvaluationRow(
        id=new_id(),
        status=EvaluationStatus.QUEUED,
        language=submission.language,
        priority=submission.priority,
        image=submission.image,
        timeout_seconds=submission.timeout_seconds,
        memory_mb=submission.memory_mb,
        code=submission.code,
        stdin=submission.stdin,
        created_at=now,
        queued_at=now,
        updated_at=now,
    )
    session.add(row)
    session.add(EventRow(evaluation_id=row.id, sequence=1, status=row.status, at=now))
    session.flush()
    return Evaluation.model_validate(row, from_attributes=True)


def get_evaluation(*, session: Session, evaluation_id: str) -> Evaluation:
    row = session.get(EvaluationRow, evaluation_id) if is_canonical_id(evaluation_id) else None
    if row is None:
        raise EvaluationNotFound(evaluation_id)
    return Evaluation.model_validate(row, from_attributes=True)


def apply_update(*, session: Session, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
    """Moves an evaluation to `update.status` if the lifecycle allows, storing what it carries.

    The row stays locked until the transaction ends, so of two racing updates
    the second sees the status the first left.
    """
    changes = update.model_dump(exclude=_HANDLED_APART, exclude_none=True)
    _require_storable({**changes, "detail": update.detail})
    row = None
    if is_canonical_id(evaluation_id):
        locked = select(EvaluationRow).where(EvaluationRow.id == evaluation_id).with_for_update()
        row = session.scalars(locked).one_or_none()
    if row is None:
        raise EvaluationNotFound(evaluation_id)
    if not can_transition(row.status, update.status):
        raise TransitionRefused(evaluation_id, row.status, update.status)

    now = _now()
    row.status = update.status
    row.updated_at = now
    if update.status is EvaluationStatus.PROVISIONING:
        # Each time a worker takes it to an executor.
        row.attempts += 1
    elif update.status is EvaluationStatus.RUNNING:
        row.started_at = now
    elif update.status is EvaluationStatus.QUEUED:
        # A retry: it waits afresh and has not started.
        row.queued_at = now
        row.started_at = None
    elif update.status.is_terminal:
        row.finished_at = now
    for field, value in changes.items():
        setattr(row, field, value)

    last = select(func.max(EventRow.sequence)).where(EventRow.evaluation_id == evaluation_id)
    session.add(
        EventRow(
            evaluation_id=evaluation_id,
            sequence=(session.scalar(last) or 0) + 1,
            status=update.status,
            at=now,
            detail=update.detail,
        )
    )
    if update.dead_letter and update.error is not None:
        session.add(
            DeadLetterRow(
                id=new_id(),
                evaluation_id=evaluation_id,
                reason=update.error,
                attempts=row.attempts,
                created_at=now,
            )
        )
    session.flush()
    return Evaluation.model_validate(row, from_attributes=True)


def list_evaluations(
    *,
    session: Session,
    status: EvaluationStatus | None,
    priority: Priority | None,
    since: datetime | None,
    limit: int,
    cursor: str | None,
) -> EvaluationPage:
    query = select(EvaluationRow).options(*_WITHOUT_PROGRAM_TEXT)
    if status is not None:
        query = query.where(EvaluationRow.status == status)
    if priority is not None:
        query = query.where(EvaluationRow.priority == priority)
    if since is not None:
        query = query.where(EvaluationRow.created_at >= since)
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


def list_events(*, session: Session, evaluation_id: str) -> list[EvaluationEvent]:
    known = select(EvaluationRow.id).where(EvaluationRow.id == evaluation_id)
    if not is_canonical_id(evaluation_id) or session.scalar(known) is None:
        raise EvaluationNotFound(evaluation_id)
    events = session.scalars(
        select(EventRow).where(EventRow.evaluation_id == evaluation_id).order_by(EventRow.sequence)
    )
    return [EvaluationEvent.model_validate(event, from_attributes=True) for event in events]


def list_dead_letters(*, session: Session, limit: int) -> list[DeadLetter]:
    letters = session.scalars(
        select(DeadLetterRow)
        .order_by(DeadLetterRow.created_at.desc(), DeadLetterRow.id.desc())
        .limit(limit)
    )
    return [DeadLetter.model_validate(letter, from_attributes=True) for letter in letters]


def requeue_dead_letter(*, session: Session, dead_letter_id: str) -> Evaluation:
    """A new evaluation with the dead one's submission, recorded on the dead letter.

    The dead letter stays locked until the transaction ends, so that two
    racing requeues cannot both create an evaluation.
    """
    letter = None
    if is_canonical_id(dead_letter_id):
        locked = select(DeadLetterRow).where(DeadLetterRow.id == dead_letter_id).with_for_update()
        letter = session.scalars(locked).one_or_none()
    if letter is None:
        raise DeadLetterNotFound(dead_letter_id)
    if letter.requeued_as is not None:
        raise AlreadyRequeued(dead_letter_id, letter.requeued_as)
    dead = session.get_one(EvaluationRow, letter.evaluation_id)
    submission = EvaluationCreate(
        code=dead.code,
        language=dead.language,
        stdin=dead.stdin,
        timeout_seconds=dead.timeout_seconds,
        memory_mb=dead.memory_mb,
        priority=dead.priority,
        image=dead.image,
    )
    evaluation = create_evaluation(session=session, submission=submission)
    letter.requeued_as = evaluation.id
    return evaluation


def _now() -> datetime:
    return datetime.now(UTC)


def _require_storable(values: dict[str, object]) -> None:
    """Refuses what the schemas let through but a database cannot keep faithfully."""
    for field, value in values.items():
        if field in _TEXT_COLUMNS and isinstance(value, str) and "\x00" in value:
            raise RequestRejected(f"{field} holds a NUL character")
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INTEGER_RANGE:
            raise RequestRejected(f"{field} {value} is outside the 32-bit integer range")
