"""What a write does to an evaluation, whichever backend keeps it.

Backends load, lock and store; these functions decide. Each returns the
evaluation as it must be stored and the event that records the change.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime

from crucible_shared.ids import new_id
from crucible_shared.lifecycle import EvaluationStatus, can_transition
from crucible_shared.schemas.commands import (
    MAX_REASON_CHARS,
    ClaimCommand,
    FailCommand,
    FinishCommand,
    RequeueCommand,
    StartCommand,
)
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationUpdate,
    OwnedSubmission,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_storage.errors import Conflict, RequestRejected, TransitionRefused

# `status` goes through the lifecycle check, `detail` to the event and
# `dead_letter` to a dead-letter record; every other field an update names
# is stored as it is.
_HANDLED_APART = {"status", "detail", "dead_letter"}
# The range of the integer columns, the same on every backend.
_INTEGER_RANGE = range(-(2**31), 2**31)
# Kept as text (not bytes) for people reading the database; PostgreSQL text
# cannot hold NUL.
_TEXT_FIELDS = {"error", "executor", "image_digest", "detail"}


@dataclass(frozen=True)
class Change:
    """An evaluation after a write, and what its event records."""

    evaluation: Evaluation
    at: datetime
    detail: str | None = None
    dead_letter: DeadLetter | None = None
    # This change is the one that made it terminal: its key's backlog shrinks.
    finished: bool = False

    def event(self, sequence: int) -> EvaluationEvent:
        """The event recording this change, `sequence`-th in the evaluation's history."""
        return EvaluationEvent(
            evaluation_id=self.evaluation.id,
            sequence=sequence,
            status=self.evaluation.status,
            at=self.at,
            detail=self.detail,
        )


def code_sha256(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


def new_evaluation(
    submission: OwnedSubmission, now: datetime, batch_id: str | None = None
) -> Evaluation:
    return Evaluation(
        **submission.model_dump(),
        id=new_id(),
        batch_id=batch_id,
        status=EvaluationStatus.QUEUED,
        code_sha256=code_sha256(submission.code),
        created_at=now,
        queued_at=now,
        updated_at=now,
    )


def first_event(evaluation: Evaluation) -> EvaluationEvent:
    """The event a new evaluation starts its history with."""
    return Change(evaluation, evaluation.created_at).event(1)


def check_storable(update: EvaluationUpdate) -> None:
    """Refuses what the schemas let through but a database cannot keep faithfully."""
    values = update.model_dump(exclude={"dead_letter"}, exclude_none=True)
    for field, value in values.items():
        if field in _TEXT_FIELDS and isinstance(value, str) and "\x00" in value:
            raise RequestRejected(f"{field} holds a NUL character")
        if isinstance(value, int) and not isinstance(value, bool) and value not in _INTEGER_RANGE:
            raise RequestRejected(f"{field} {value} is outside the 32-bit integer range")


def transition(
    current: Evaluation,
    update: EvaluationUpdate,
    now: datetime,
    outputs: dict[str, object] | None = None,
) -> Change:
    """`current` moved to `update.status` if the lifecycle allows.

    `outputs` are the output fields storage decided on (sizes, previews),
    stored over what the update carries.
    """
    if not can_transition(current.status, update.status):
        raise TransitionRefused(current.id, current.status, update.status)
    fields: dict[str, object] = {"status": update.status, "updated_at": now}
    if update.status is EvaluationStatus.PROVISIONING:
        # Each time a worker takes it to an executor.
        fields["attempts"] = current.attempts + 1
    elif update.status is EvaluationStatus.RUNNING:
        fields["started_at"] = now
    elif update.status is EvaluationStatus.QUEUED:
        # A retry: it waits afresh and has not started.
        fields.update(queued_at=now, started_at=None)
    elif update.status.is_terminal:
        fields["finished_at"] = now
    # The values themselves, not a dump: model_copy does not validate, and a
    # nested model (a case's result) must stay one.
    fields.update(
        (name, value)
        for name in EvaluationUpdate.model_fields
        if name not in _HANDLED_APART and (value := getattr(update, name)) is not None
    )
    fields.update(outputs or {})
    evaluation = current.model_copy(update=fields)
    dead_letter = None
    if update.dead_letter and update.error is not None:
        dead_letter = DeadLetter(
            id=new_id(),
            evaluation_id=current.id,
            reason=update.error,
            attempts=evaluation.attempts,
            created_at=now,
        )
    return Change(evaluation, now, update.detail, dead_letter, update.status.is_terminal)


_S = EvaluationStatus
_IN_FLIGHT = frozenset({_S.PROVISIONING, _S.RUNNING})


def reason_text(reason: str) -> str:
    """A reason as storage keeps it: text a database can hold, and not a
    program's whole output, whatever a caller put in it."""
    cleaned = reason.replace("\x00", "\ufffd")
    if len(cleaned) > MAX_REASON_CHARS:
        cleaned = cleaned[: MAX_REASON_CHARS - 1] + "…"
    return cleaned


def _fenced(current: Evaluation, attempt: int, allowed: frozenset[EvaluationStatus]) -> None:
    """Refuses a command of an attempt that is no longer the current one, or
    one that finds the evaluation where that attempt cannot be."""
    if current.status not in allowed:
        raise Conflict(
            f"evaluation {current.id} is {current.status}; attempt {attempt} cannot go on"
        )
    if current.attempts != attempt:
        raise Conflict(
            f"evaluation {current.id} is on attempt {current.attempts}, not {attempt}: "
            "that run lost its slot and its successor's stands"
        )


def claim(current: Evaluation, command: ClaimCommand, now: datetime) -> Change:
    """`queued` to `provisioning`, one more attempt, before any sandbox starts:
    an evaluation cancelled while it waited is refused here."""
    if current.status is not _S.QUEUED:
        raise TransitionRefused(current.id, current.status, _S.PROVISIONING)
    attempt = current.attempts + 1
    evaluation = current.model_copy(
        update={
            "status": _S.PROVISIONING,
            "attempts": attempt,
            "executor": command.executor,
            "updated_at": now,
        }
    )
    return Change(evaluation, now, f"claimed a slot on {command.executor} (attempt {attempt})")


def start(current: Evaluation, command: StartCommand, now: datetime) -> Change:
    _fenced(current, command.attempt, frozenset({_S.PROVISIONING}))
    evaluation = current.model_copy(
        update={
            "status": _S.RUNNING,
            "executor": command.executor,
            "started_at": now,
            "updated_at": now,
        }
    )
    return Change(evaluation, now, f"running on {command.executor}")


def finish(
    current: Evaluation, command: FinishCommand, now: datetime, outputs: dict[str, object]
) -> Change:
    _fenced(current, command.attempt, _IN_FLIGHT)
    fields: dict[str, object] = {
        # The values themselves, not a dump: model_copy does not validate, and
        # a nested model (a case's result) must stay one.
        **{name: getattr(command.result, name) for name in type(command.result).model_fields},
        "status": _S.COMPLETED,
        "started_at": current.started_at or now,
        "finished_at": now,
        "updated_at": now,
        **outputs,
    }
    return Change(current.model_copy(update=fields), now, None, None, finished=True)


def requeue(current: Evaluation, command: RequeueCommand, now: datetime) -> Change:
    """Back to `queued` for another attempt, or given up on once every attempt is spent:
    `attempts` is the only retry budget."""
    _fenced(current, command.attempt, _IN_FLIGHT)
    reason = reason_text(command.reason)
    if current.attempts >= command.max_attempts:
        return fail(
            current,
            FailCommand(
                reason=f"gave up after {current.attempts} attempts: {reason}", dead_letter=True
            ),
            now,
        )
    evaluation = current.model_copy(
        update={"status": _S.QUEUED, "queued_at": now, "started_at": None, "updated_at": now}
    )
    return Change(evaluation, now, f"retrying: {reason}")


def fail(current: Evaluation, command: FailCommand, now: datetime) -> Change:
    if current.status.is_terminal:
        raise TransitionRefused(current.id, current.status, _S.FAILED)
    reason = reason_text(command.reason)
    evaluation = current.model_copy(
        update={"status": _S.FAILED, "error": reason, "finished_at": now, "updated_at": now}
    )
    dead_letter = None
    if command.dead_letter:
        dead_letter = DeadLetter(
            id=new_id(),
            evaluation_id=current.id,
            reason=reason,
            attempts=current.attempts,
            created_at=now,
        )
    return Change(evaluation, now, None, dead_letter, finished=True)


def deletion(current: Evaluation, now: datetime) -> Change:
    """Hidden from lists until restored or purged; deleting twice changes nothing more."""
    if not current.status.is_terminal:
        raise Conflict(f"evaluation {current.id} is {current.status}; cancel it before deleting it")
    deleted_at = current.deleted_at or now
    evaluation = current.model_copy(update={"deleted_at": deleted_at, "updated_at": now})
    return Change(evaluation, now, "deleted")


def restoration(current: Evaluation, now: datetime) -> Change:
    evaluation = current.model_copy(update={"deleted_at": None, "updated_at": now})
    return Change(evaluation, now, "restored")


def resubmission(dead: Evaluation) -> OwnedSubmission:
    """The submission of an evaluation given up on, to run it again, for the same owner."""
    return OwnedSubmission.model_validate(
        dead.model_dump(include=set(OwnedSubmission.model_fields))
    )
