"""Evaluations as JSON documents in an object store: the `file`, `s3` and `memory` backends.

Each evaluation is one document holding it, its events and its dead letter,
so that every write is the atomic replacement of one object. An index of
summaries in memory, loaded from the store at start, serves lists and
counts without reading documents (except for a text search, which reads the
code of the candidates). Counters kept as documents are written (by priority,
status and outcome; of the deleted; the finished in order of finishing) answer
statistics and the common counts without a scan of the index. The index
makes this backend single-process: one storage service per directory or
bucket (the file backend enforces it with a lock; see docs/storage.md).
"""

from bisect import bisect_left, insort
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import datetime
from threading import RLock

from pydantic import BaseModel

from crucible_shared.ids import is_canonical_id
from crucible_shared.lifecycle import EvaluationStatus, Outcome, Priority
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
from crucible_storage.errors import (
    AlreadyRequeued,
    BatchNotFound,
    Conflict,
    DeadLetterNotFound,
    EvaluationNotFound,
    KeyNotFound,
    NotFound,
)
from crucible_storage.objects.base import ObjectMissing, ObjectStore
from crucible_storage.pagination import Cursor
from crucible_storage.rules import Change
from crucible_storage.statistics import Tally, Timing

_PREFIX = "evaluations/"
_KEYS = "keys/"
_BATCHES = "batches/"
_SUMMARY_FIELDS = set(EvaluationSummary.model_fields)
# A count whose filter leaves all of these unset is answered from the tallies.
_UNTALLIED_FIELDS = set(EvaluationFilter.model_fields) - {
    "status",
    "outcome",
    "priority",
    "active",
    "include_deleted",
}
_TallyKey = tuple[Priority, EvaluationStatus, Outcome | None]


class _Document(BaseModel):
    evaluation: Evaluation
    events: list[EvaluationEvent]
    dead_letter: DeadLetter | None = None
    # Its place among its batch's evaluations in the order they finished.
    finish_sequence: int | None = None


def _key(evaluation_id: str) -> str:
    return f"{_PREFIX}{evaluation_id}.json"


def _batch_key(batch_id: str) -> str:
    return f"{_BATCHES}{batch_id}.json"


class DocumentBackend:
    def __init__(self, name: str, objects: ObjectStore) -> None:
        self.name = name
        self.location = objects.location
        self._objects = objects
        # One lock for every write and index read: a write's load, decision
        # and store happen with no other write in between.
        self._lock = RLock()
        self._summaries: dict[str, EvaluationSummary] = {}
        self._order: list[tuple[datetime, str]] = []  # ascending (created_at, id)
        self._dead_letters: dict[str, DeadLetter] = {}
        self._tallies: Counter[_TallyKey] = Counter()  # of those not deleted
        self._deleted = 0
        self._finished: list[tuple[datetime, str]] = []  # ascending, not deleted
        self._batches: dict[str, Batch] = {}
        self._members: dict[str, set[str]] = {}
        # Per batch, finish sequence -> evaluation id. A purged evaluation
        # keeps its place, so that a later finish is never given its number.
        self._finish_order: dict[str, dict[int, str]] = {}
        for key in objects.keys(_BATCHES):
            self._add_batch(Batch.model_validate_json(objects.get(key)))
        for key in objects.keys(_PREFIX):
            self._index(_Document.model_validate_json(objects.get(key)))
        self._keys: dict[str, StoredKey] = {}
        for key in objects.keys(_KEYS):
            stored = StoredKey.model_validate_json(objects.get(key))
            self._keys[stored.id] = stored

    def insert(self, evaluations: list[Evaluation]) -> None:
        documents = [
            _Document(evaluation=evaluation, events=[rules.first_event(evaluation)])
            for evaluation in evaluations
        ]
        with self._lock:
            written: list[str] = []
            try:
                for document in documents:
                    self._store(document)
                    written.append(document.evaluation.id)
            except BaseException:
                # All or none, as in a database's transaction: the caller hears
                # that the batch failed, so none of it may run. Only a crash of
                # this process leaves the ones written (each whole).
                for evaluation_id in written:
                    # The store that failed may fail this too: the first error
                    # is the one to report.
                    with suppress(Exception):
                        self._forget(evaluation_id)
                raise

    def insert_batch(self, batch: Batch, evaluations: list[Evaluation]) -> None:
        with self._lock:
            self._objects.put(_batch_key(batch.id), batch.model_dump_json().encode())
            try:
                self.insert(evaluations)
            except BaseException:
                with suppress(Exception):
                    self._objects.delete(_batch_key(batch.id))
                raise
            self._add_batch(batch)

    def batch_counts(self, batch_id: str) -> BatchCounts:
        with self._lock:
            batch = self._batch(batch_id)
            members = [self._summaries[member] for member in self._members[batch_id]]
        counts = Counter((summary.status, summary.outcome) for summary in members)
        starts = [s.started_at for s in members if s.started_at is not None]
        finishes = [s.finished_at for s in members if s.finished_at is not None]
        return BatchCounts(
            batch=batch,
            counts=[(status, outcome, number) for (status, outcome), number in counts.items()],
            started_at=min(starts, default=None),
            finished_at=max(finishes, default=None),
        )

    def batches(
        self, *, owner: str | None, limit: int, cursor: str | None
    ) -> tuple[list[Batch], str | None]:
        after = Cursor.decode(cursor) if cursor is not None else None
        with self._lock:
            matching = [
                batch
                for batch in self._batches.values()
                if (owner is None or batch.owner == owner)
                and (
                    after is None
                    or (batch.created_at, batch.id) < (after.created_at, after.evaluation_id)
                )
            ]
        matching.sort(key=lambda batch: (batch.created_at, batch.id), reverse=True)
        page = matching[:limit]
        more = len(matching) > limit
        return page, Cursor(page[-1].created_at, page[-1].id).encode() if more else None

    def finished(self, batch_id: str, *, after: int, limit: int) -> list[tuple[int, Evaluation]]:
        with self._lock:
            self._batch(batch_id)
            order = self._finish_order[batch_id]
            ids: list[tuple[int, str]] = []
            sequence = after + 1
            while sequence in order and len(ids) < limit:
                if order[sequence] in self._summaries:
                    ids.append((sequence, order[sequence]))
                sequence += 1
        found: list[tuple[int, Evaluation]] = []
        for sequence, evaluation_id in ids:
            with suppress(EvaluationNotFound):  # purged meanwhile
                found.append((sequence, self._load(evaluation_id).evaluation))
        return found

    def get(self, evaluation_id: str) -> Evaluation:
        return self._load(evaluation_id).evaluation

    def modify(
        self, evaluation_id: str, decide: Callable[[Evaluation], Change]
    ) -> tuple[Evaluation, EvaluationEvent]:
        with self._lock:
            document = self._load(evaluation_id)
            change = decide(document.evaluation)
            event = change.event(len(document.events) + 1)
            batch_id = change.evaluation.batch_id
            finish_sequence = document.finish_sequence
            if (
                batch_id is not None
                and finish_sequence is None
                and change.evaluation.status.is_terminal
            ):
                finish_sequence = len(self._finish_order.setdefault(batch_id, {})) + 1
            self._store(
                _Document(
                    evaluation=change.evaluation,
                    events=[*document.events, event],
                    dead_letter=change.dead_letter or document.dead_letter,
                    finish_sequence=finish_sequence,
                )
            )
            return change.evaluation, event

    def modify_each(
        self, evaluation_ids: list[str], decide: Callable[[Evaluation], Change]
    ) -> list[tuple[Evaluation, EvaluationEvent]]:
        modified = []
        for evaluation_id in evaluation_ids:
            try:
                modified.append(self.modify(evaluation_id, decide))
            except (Conflict, NotFound):
                continue
        return modified

    def page(self, where: EvaluationFilter, *, limit: int, cursor: str | None) -> EvaluationPage:
        after = Cursor.decode(cursor) if cursor is not None else None
        with self._lock:
            items: list[EvaluationSummary] = []
            more = False
            for summary in self._matching(where, after):
                if len(items) == limit:
                    more = True
                    break
                items.append(summary)
        return EvaluationPage(
            items=items,
            next_cursor=Cursor(items[-1].created_at, items[-1].id).encode() if more else None,
        )

    def count(self, where: EvaluationFilter) -> int:
        with self._lock:
            if not where.include_deleted and all(
                getattr(where, field) is None for field in _UNTALLIED_FIELDS
            ):
                return sum(
                    number
                    for (priority, status, outcome), number in self._tallies.items()
                    if _admits_tally(where, priority, status, outcome)
                )
            return sum(1 for _ in self._matching(where, None))

    def events(self, evaluation_id: str) -> list[EvaluationEvent]:
        return self._load(evaluation_id).events

    def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        with self._lock:
            letters = sorted(
                self._dead_letters.values(),
                key=lambda letter: (letter.created_at, letter.id),
                reverse=True,
            )
        return letters[:limit]

    def requeue(
        self, dead_letter_id: str, resubmit: Callable[[Evaluation], Evaluation]
    ) -> Evaluation:
        with self._lock:
            letter = self._dead_letters.get(dead_letter_id)
            if letter is None:
                raise DeadLetterNotFound(dead_letter_id)
            if letter.requeued_as is not None:
                raise AlreadyRequeued(dead_letter_id, letter.requeued_as)
            dead = self._load(letter.evaluation_id)
            evaluation = resubmit(dead.evaluation)
            # The new evaluation first: a crash in between leaves it queued
            # and the letter requeueable, never a letter naming nothing.
            self.insert([evaluation])
            requeued = letter.model_copy(update={"requeued_as": evaluation.id})
            self._store(dead.model_copy(update={"dead_letter": requeued}))
            return evaluation

    def tallies(self) -> list[Tally]:
        with self._lock:
            return [
                Tally(priority, status, outcome, count)
                for (priority, status, outcome), count in self._tallies.items()
            ]

    def timings(self, finished_since: datetime) -> list[Timing]:
        with self._lock:
            since = bisect_left(self._finished, (finished_since, ""))
            summaries = [self._summaries[key] for _, key in self._finished[since:]]
        return [
            Timing(s.priority, s.queued_at, s.started_at, s.finished_at)
            for s in summaries
            if s.finished_at is not None
        ]

    def purge(self, deleted_before: datetime) -> list[str]:
        with self._lock:
            doomed = [
                summary.id
                for summary in self._summaries.values()
                if summary.deleted_at is not None and summary.deleted_at < deleted_before
            ]
            for evaluation_id in doomed:
                self._forget(evaluation_id)
        return doomed

    def totals(self) -> tuple[int, int]:
        with self._lock:
            return len(self._summaries), self._deleted

    def insert_key(self, key: StoredKey) -> None:
        with self._lock:
            self._store_key(key)

    def keys(self) -> list[StoredKey]:
        with self._lock:
            return sorted(self._keys.values(), key=lambda key: (key.created_at, key.id))

    def key_by_hash(self, key_sha256: str) -> StoredKey:
        with self._lock:
            for key in self._keys.values():
                if key.key_sha256 == key_sha256:
                    return key
        raise KeyNotFound("with this hash")

    def revoke_key(self, key_id: str, at: datetime) -> StoredKey:
        with self._lock:
            key = self._keys.get(key_id)
            if key is None:
                raise KeyNotFound(key_id)
            revoked = key.model_copy(update={"revoked_at": key.revoked_at or at})
            self._store_key(revoked)
            return revoked

    def ready(self) -> bool:
        return self._objects.ready()

    def _store_key(self, key: StoredKey) -> None:
        self._objects.put(f"{_KEYS}{key.id}.json", key.model_dump_json().encode())
        self._keys[key.id] = key

    def _add_batch(self, batch: Batch) -> None:
        self._batches[batch.id] = batch
        self._members.setdefault(batch.id, set())
        self._finish_order.setdefault(batch.id, {})

    def _batch(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise BatchNotFound(batch_id)
        return batch

    def _load(self, evaluation_id: str) -> _Document:
        if not is_canonical_id(evaluation_id):
            raise EvaluationNotFound(evaluation_id)
        try:
            return _Document.model_validate_json(self._objects.get(_key(evaluation_id)))
        except ObjectMissing:
            raise EvaluationNotFound(evaluation_id) from None

    def _store(self, document: _Document) -> None:
        self._objects.put(_key(document.evaluation.id), document.model_dump_json().encode())
        self._index(document)

    def _index(self, document: _Document) -> None:
        evaluation = document.evaluation
        previous = self._summaries.get(evaluation.id)
        if previous is None:
            insort(self._order, (evaluation.created_at, evaluation.id))
        else:
            self._uncount(previous)
        summary = EvaluationSummary.model_validate(evaluation.model_dump(include=_SUMMARY_FIELDS))
        self._summaries[evaluation.id] = summary
        self._count(summary)
        if document.dead_letter is not None:
            self._dead_letters[document.dead_letter.id] = document.dead_letter
        if evaluation.batch_id is not None:
            self._members.setdefault(evaluation.batch_id, set()).add(evaluation.id)
            if document.finish_sequence is not None:
                order = self._finish_order.setdefault(evaluation.batch_id, {})
                order[document.finish_sequence] = evaluation.id

    def _count(self, summary: EvaluationSummary) -> None:
        if summary.deleted_at is not None:
            self._deleted += 1
            return
        self._tallies[(summary.priority, summary.status, summary.outcome)] += 1
        if summary.finished_at is not None:
            insort(self._finished, (summary.finished_at, summary.id))

    def _uncount(self, summary: EvaluationSummary) -> None:
        if summary.deleted_at is not None:
            self._deleted -= 1
            return
        key = (summary.priority, summary.status, summary.outcome)
        self._tallies[key] -= 1
        if not self._tallies[key]:
            del self._tallies[key]
        if summary.finished_at is not None:
            self._finished.pop(bisect_left(self._finished, (summary.finished_at, summary.id)))

    def _forget(self, evaluation_id: str) -> None:
        summary = self._summaries.pop(evaluation_id)
        self._uncount(summary)
        if summary.batch_id is not None:
            self._members[summary.batch_id].discard(evaluation_id)
        self._order.pop(bisect_left(self._order, (summary.created_at, summary.id)))
        for letter in list(self._dead_letters.values()):
            if letter.evaluation_id == evaluation_id:
                del self._dead_letters[letter.id]
            elif letter.requeued_as == evaluation_id:
                dead = self._load(letter.evaluation_id)
                forgotten = letter.model_copy(update={"requeued_as": None})
                self._store(dead.model_copy(update={"dead_letter": forgotten}))
        self._objects.delete(_key(evaluation_id))

    def _matching(
        self, where: EvaluationFilter, after: Cursor | None
    ) -> Iterator[EvaluationSummary]:
        """Newest first, strictly after the cursor."""
        end = len(self._order)
        if after is not None:
            end = bisect_left(self._order, (after.created_at, after.evaluation_id))
        for index in range(end - 1, -1, -1):
            summary = self._summaries[self._order[index][1]]
            if _admits(where, summary) and (
                where.q is None or where.q in self._load(summary.id).evaluation.code
            ):
                yield summary


def _admits_tally(
    where: EvaluationFilter,
    priority: Priority,
    status: EvaluationStatus,
    outcome: Outcome | None,
) -> bool:
    return (
        where.status in (None, status)
        and where.outcome in (None, outcome)
        and where.priority in (None, priority)
        and (where.active is None or where.active != status.is_terminal)
    )


def _admits(where: EvaluationFilter, summary: EvaluationSummary) -> bool:
    fields = (
        "status",
        "outcome",
        "priority",
        "language",
        "image",
        "code_sha256",
        "owner",
        "batch_id",
    )
    for field in fields:
        wanted = getattr(where, field)
        if wanted is not None and getattr(summary, field) != wanted:
            return False
    if where.since is not None and summary.created_at < where.since:
        return False
    if where.until is not None and summary.created_at >= where.until:
        return False
    if where.queued_since is not None and summary.queued_at < where.queued_since:
        return False
    if where.queued_until is not None and summary.queued_at >= where.queued_until:
        return False
    if where.active is not None and where.active == summary.status.is_terminal:
        return False
    return where.include_deleted or summary.deleted_at is None
