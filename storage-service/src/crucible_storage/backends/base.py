"""The interface of the stores that keep evaluations.

A backend loads, locks and stores; the rules of a write (`crucible_storage.rules`)
and everything around it (blobs, cache, live updates: `crucible_storage.service`)
are the same for every backend.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from crucible_shared.schemas.batches import Batch
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationFilter,
    EvaluationPage,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.keys import StoredKey
from crucible_storage.batches import BatchCounts
from crucible_storage.rules import Change
from crucible_storage.statistics import Tally, Timing


class StorageBackend(Protocol):
    """Keeps evaluations, their event history and their dead letters.

    Every method is safe to call from several threads at once. Refusals are
    the exceptions of `crucible_storage.errors`: `NotFound` for an unknown
    id, `Conflict` for what `decide` refuses or a second requeue,
    `RequestRejected` for input it cannot serve, such as a cursor it did
    not issue.
    """

    name: str
    location: str

    def insert(self, evaluations: list[Evaluation]) -> None:
        """Stores new evaluations, each with its first event, all or none."""
        ...

    def insert_batch(self, batch: Batch, evaluations: list[Evaluation]) -> None:
        """Stores a batch with its evaluations, all or none."""
        ...

    def batch_counts(self, batch_id: str) -> BatchCounts:
        """Its evaluations counted by status and outcome; `BatchNotFound` for an unknown id."""
        ...

    def batches(
        self, *, owner: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Batch], str | None]:
        """Newest first, with the cursor of the next page if there is one."""
        ...

    def finished(self, batch_id: str, *, after: int, limit: int) -> list[tuple[int, Evaluation]]:
        """Up to `limit` of the batch's finished evaluations, in the order they
        finished, after the `after`-th, each with its place in that order.

        `modify` numbers an evaluation of a batch when it first reaches a
        terminal status, under a lock that makes the numbers commit in order:
        once the n-th is visible, so is every one before it.
        """
        ...

    def get(self, evaluation_id: str) -> Evaluation:
        """Deleted ones too."""
        ...

    def modify(
        self, evaluation_id: str, decide: Callable[[Evaluation], Change]
    ) -> tuple[Evaluation, EvaluationEvent]:
        """Stores what `decide` makes of the current evaluation, with its event
        and dead letter, atomically: no other write to it comes in between."""
        ...

    def modify_each(
        self, evaluation_ids: list[str], decide: Callable[[Evaluation], Change]
    ) -> list[tuple[Evaluation, EvaluationEvent]]:
        """`modify` of each, in as few transactions as the backend can; those
        `decide` refuses (a `Conflict`) or that are gone are left out."""
        ...

    def page(self, where: EvaluationFilter, *, limit: int, cursor: str | None) -> EvaluationPage:
        """Newest first; `cursor` is a `next_cursor` this backend handed out."""
        ...

    def count(self, where: EvaluationFilter) -> int: ...

    def events(self, evaluation_id: str) -> list[EvaluationEvent]:
        """Oldest first."""
        ...

    def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        """Newest first."""
        ...

    def requeue(
        self, dead_letter_id: str, resubmit: Callable[[Evaluation], Evaluation]
    ) -> Evaluation:
        """Inserts `resubmit(the dead evaluation)` and records it on the dead
        letter, atomically; a second requeue of one dead letter is a `Conflict`."""
        ...

    def tallies(self) -> list[Tally]:
        """Evaluations not deleted, counted by priority, status and outcome."""
        ...

    def timings(self, finished_since: datetime) -> list[Timing]:
        """Evaluations not deleted that reached a terminal status since then."""
        ...

    def purge(self, deleted_before: datetime) -> list[str]:
        """Removes evaluations deleted before then, with their history; their ids."""
        ...

    def totals(self) -> tuple[int, int]:
        """Evaluations kept, and how many of them are deleted."""
        ...

    def insert_key(self, key: StoredKey) -> None: ...

    def keys(self) -> list[StoredKey]:
        """Oldest first, revoked ones too."""
        ...

    def key_by_hash(self, key_sha256: str) -> StoredKey:
        """`KeyNotFound` if no key, revoked or not, has this hash."""
        ...

    def revoke_key(self, key_id: str, at: datetime) -> StoredKey:
        """Revoking twice keeps the first time; `KeyNotFound` for an unknown id."""
        ...

    def ready(self) -> bool:
        """Whether the backend can serve requests now."""
        ...
