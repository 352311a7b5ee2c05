"""The interface the routes use, whichever backend keeps the data."""

from datetime import datetime
from typing import Protocol

from crucible_shared.lifecycle import EvaluationStatus, Priority
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationCreate,
    EvaluationPage,
    EvaluationUpdate,
)
from crucible_shared.schemas.events import EvaluationEvent


class StorageBackend(Protocol):
    """Keeps evaluations and their event history.

    Every method is safe to call from several threads at once. Refusals are
    the exceptions of `crucible_storage.errors`: `NotFound` for an unknown
    id, `Conflict` for an update the lifecycle forbids or a second requeue
    (an implementation must check and apply each atomically),
    `RequestRejected` for input it cannot serve or keep, such as a cursor
    it did not issue.
    """

    def create_evaluation(self, submission: EvaluationCreate) -> Evaluation:
        """Stores a new `queued` evaluation and its first event."""
        ...

    def get_evaluation(self, evaluation_id: str) -> Evaluation: ...

    def apply_update(self, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
        """Makes a status transition, sets its timestamps and appends its event.

        With `update.dead_letter`, also keeps a dead letter, in the same transaction.
        """
        ...

    def list_evaluations(
        self,
        *,
        status: EvaluationStatus | None,
        priority: Priority | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> EvaluationPage:
        """Newest first; `cursor` is a `next_cursor` this backend handed out."""
        ...

    def list_events(self, evaluation_id: str) -> list[EvaluationEvent]:
        """The evaluation's history, oldest first."""
        ...

    def list_dead_letters(self, *, limit: int) -> list[DeadLetter]:
        """Newest first."""
        ...

    def requeue_dead_letter(self, dead_letter_id: str) -> Evaluation:
        """A new `queued` evaluation with the same submission; once per dead letter."""
        ...

    def ready(self) -> bool:
        """Whether the backend can serve requests now."""
        ...
