"""Storage's operations, whichever backend keeps the evaluations.

Around the backend: large outputs go to the blob store and come back
transparently, reads go through the Redis cache when there is one, and every
committed change is published for the API's live streams.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

from crucible_shared.ids import is_canonical_id, new_id
from crucible_shared.lifecycle import EvaluationStatus
from crucible_shared.schemas.batches import (
    Batch,
    BatchCancel,
    BatchCancelled,
    BatchPage,
    BatchProgress,
    FinishedEvaluation,
    FinishedPage,
    NewBatch,
    StoredBatch,
)
from crucible_shared.schemas.commands import (
    Claim,
    ClaimCommand,
    FailCommand,
    FinishCommand,
    RequeueCommand,
    StartCommand,
)
from crucible_shared.schemas.evaluations import (
    DeadLetter,
    Evaluation,
    EvaluationFilter,
    EvaluationPage,
    EvaluationSummary,
    EvaluationUpdate,
    OwnedSubmission,
)
from crucible_shared.schemas.events import EvaluationEvent
from crucible_shared.schemas.execution import ExecutionRequest
from crucible_shared.schemas.keys import StoredKey
from crucible_shared.schemas.statistics import StatisticsReport
from crucible_shared.schemas.storage import StorageInfo
from crucible_storage import batches, rules, statistics
from crucible_storage.backends.base import StorageBackend
from crucible_storage.backlog import Backlog
from crucible_storage.errors import EvaluationNotFound, NotFound
from crucible_storage.objects.base import ObjectMissing, ObjectStore
from crucible_storage.redis_link import RedisLink

Stream = Literal["stdout", "stderr"]
_STREAMS: tuple[Stream, ...] = ("stdout", "stderr")
_BLOBS = "outputs/"
_UNBOUNDED = 2**62
# Evaluations of a batch cancelled per transaction.
_CANCEL_PAGE = 500


def _blob_key(evaluation_id: str, stream: Stream) -> str:
    return f"{_BLOBS}{evaluation_id}/{stream}"


class Storage:
    def __init__(
        self,
        backend: StorageBackend,
        *,
        blobs: ObjectStore,
        blob_backend: str,
        blob_threshold_bytes: int,
        retention: timedelta,
        redis: RedisLink | None = None,
        backlog: Backlog | None = None,
    ) -> None:
        self.backend = backend
        self._blobs = blobs
        self._blob_backend = blob_backend
        self._threshold = blob_threshold_bytes
        self._retention = retention
        self._redis = redis
        self._backlog = backlog

    def create(
        self, submissions: list[OwnedSubmission], *, max_queued: int | None = None
    ) -> list[Evaluation]:
        """All or none; with `max_queued`, only if they fit in their key's backlog
        (`BacklogFull` otherwise). A batch is one key's."""
        now = _now()
        evaluations = [rules.new_evaluation(submission, now) for submission in submissions]
        owner = evaluations[0].owner if evaluations else None
        self._within_backlog(owner, max_queued, evaluations, self.backend.insert)
        for evaluation in evaluations:
            self._committed(evaluation, rules.first_event(evaluation))
        return evaluations

    def _within_backlog(
        self,
        owner: str | None,
        max_queued: int | None,
        evaluations: list[Evaluation],
        store: Callable[[list[Evaluation]], None],
    ) -> None:
        """Stores them, counted in their owner's backlog: refused (`BacklogFull`)
        if they would not fit under `max_queued`, given back if storing fails."""
        if self._backlog is None or owner is None:
            store(evaluations)
            return
        with self._backlog.admitted(
            owner, len(evaluations), max_queued or _UNBOUNDED, lambda: self._active(owner)
        ):
            store(evaluations)

    def claim(self, evaluation_id: str, command: ClaimCommand) -> Claim:
        evaluation = self._command(
            evaluation_id, lambda current, now: rules.claim(current, command, now)
        )
        return Claim(
            attempt=evaluation.attempts,
            queued_at=evaluation.queued_at,
            request=_execution_request(evaluation),
        )

    def start(self, evaluation_id: str, command: StartCommand) -> EvaluationSummary:
        return _summary(
            self._command(evaluation_id, lambda current, now: rules.start(current, command, now))
        )

    def finish(self, evaluation_id: str, command: FinishCommand) -> EvaluationSummary:
        result = command.result
        outputs, large = self._outputs(result.stdout, result.stderr)

        def decide(current: Evaluation, now: datetime) -> rules.Change:
            change = rules.finish(current, command, now, outputs)
            self._put_blobs(evaluation_id, large)
            return change

        return _summary(self._command(evaluation_id, decide))

    def requeue(self, evaluation_id: str, command: RequeueCommand) -> EvaluationSummary:
        return _summary(
            self._command(evaluation_id, lambda current, now: rules.requeue(current, command, now))
        )

    def fail(self, evaluation_id: str, command: FailCommand) -> EvaluationSummary:
        return _summary(
            self._command(evaluation_id, lambda current, now: rules.fail(current, command, now))
        )

    def _command(
        self, evaluation_id: str, decide: Callable[[Evaluation, datetime], rules.Change]
    ) -> Evaluation:
        if not is_canonical_id(evaluation_id):  # before its id names a blob
            raise EvaluationNotFound(evaluation_id)
        decided: list[rules.Change] = []
        epochs: list[int] = []

        def deciding(current: Evaluation) -> rules.Change:
            decided.append(decide(current, _now()))
            if decided[-1].finished and self._backlog is not None and current.owner is not None:
                epochs.append(self._backlog.epoch(current.owner))  # before the commit
            return decided[-1]

        evaluation, event = self.backend.modify(evaluation_id, deciding)
        if epochs and self._backlog is not None and evaluation.owner is not None:
            self._backlog.release(evaluation.owner, epochs[-1])
        return self._committed(evaluation, event)

    def _active(self, owner: str) -> int:
        return self.backend.count(EvaluationFilter(owner=owner, active=True))

    def create_batch(self, new: NewBatch) -> StoredBatch:
        now = _now()
        batch = Batch(
            id=new_id(),
            owner=new.owner,
            label=new.label,
            created_at=now,
            total=len(new.submissions),
        )
        evaluations = [
            rules.new_evaluation(submission, now, batch.id) for submission in new.submissions
        ]
        self._within_backlog(
            new.owner,
            new.max_queued,
            evaluations,
            lambda stored: self.backend.insert_batch(batch, stored),
        )
        for evaluation in evaluations:
            self._committed(evaluation, rules.first_event(evaluation))
        return StoredBatch(
            batch=batch,
            evaluations=[EvaluationSummary.model_validate(e.model_dump()) for e in evaluations],
        )

    def cancel_batch(self, batch_id: str, command: BatchCancel) -> BatchCancelled:
        """Every evaluation of the batch still queued or running, cancelled, a
        page per transaction: a batch of 10,000 is one request, not 10,000."""
        self.backend.batch_counts(batch_id)  # BatchNotFound for an unknown one
        update = EvaluationUpdate(status=EvaluationStatus.CANCELLED, detail=command.detail)
        unfinished = EvaluationFilter(batch_id=batch_id, active=True)
        cancelled: list[str] = []
        # Those that finish meanwhile leave the filter: the first page is always the next.
        while page := self.backend.page(unfinished, limit=_CANCEL_PAGE, cursor=None).items:
            owners = {summary.owner for summary in page if summary.owner is not None}
            epochs = {owner: self._backlog.epoch(owner) for owner in owners if self._backlog}
            modified = self.backend.modify_each(
                [summary.id for summary in page],
                lambda current: rules.transition(current, update, _now()),
            )
            if not modified:
                break
            released = Counter(evaluation.owner for evaluation, _ in modified)
            for owner, epoch in epochs.items():
                if self._backlog is not None and released[owner]:
                    self._backlog.release(owner, epoch, released[owner])
            for evaluation, event in modified:
                self._committed(evaluation, event)
            cancelled += [evaluation.id for evaluation, _ in modified]
        return BatchCancelled(cancelled=cancelled)

    def batch(self, batch_id: str) -> BatchProgress:
        return batches.progress(self.backend.batch_counts(batch_id))

    def batches(self, *, owner: str | None, limit: int, cursor: str | None) -> BatchPage:
        page, next_cursor = self.backend.batches(owner=owner, limit=limit, cursor=cursor)
        return BatchPage(items=[self.batch(batch.id) for batch in page], next_cursor=next_cursor)

    def finished(self, batch_id: str, *, cursor: str | None, limit: int) -> FinishedPage:
        after = batches.decode_cursor(cursor)
        return FinishedPage(
            items=[
                FinishedEvaluation(
                    **evaluation.model_dump(), cursor=batches.encode_cursor(sequence)
                )
                for sequence, evaluation in self.backend.finished(
                    batch_id, after=after, limit=limit
                )
            ]
        )

    def get(self, evaluation_id: str) -> Evaluation:
        if self._redis is not None and (cached := self._redis.cached(evaluation_id)):
            return cached
        evaluation = self.backend.get(evaluation_id)
        if self._redis is not None:
            self._redis.cache(evaluation)
        return evaluation

    def update(self, evaluation_id: str, update: EvaluationUpdate) -> Evaluation:
        if not is_canonical_id(evaluation_id):  # before its id names a blob
            raise EvaluationNotFound(evaluation_id)
        rules.check_storable(update)
        outputs, large = self._outputs(update.stdout, update.stderr)

        def decide(current: Evaluation, now: datetime) -> rules.Change:
            change = rules.transition(current, update, now, outputs)
            self._put_blobs(evaluation_id, large)
            return change

        return self._command(evaluation_id, decide)

    def delete(self, evaluation_id: str) -> Evaluation:
        evaluation, event = self.backend.modify(
            evaluation_id, lambda current: rules.deletion(current, _now())
        )
        return self._committed(evaluation, event)

    def restore(self, evaluation_id: str) -> Evaluation:
        evaluation, event = self.backend.modify(
            evaluation_id, lambda current: rules.restoration(current, _now())
        )
        return self._committed(evaluation, event)

    def page(self, where: EvaluationFilter, *, limit: int, cursor: str | None) -> EvaluationPage:
        return self.backend.page(where, limit=limit, cursor=cursor)

    def count(self, where: EvaluationFilter) -> int:
        return self.backend.count(where)

    def events(self, evaluation_id: str) -> list[EvaluationEvent]:
        return self.backend.events(evaluation_id)

    def output(self, evaluation_id: str, stream: Stream) -> Iterator[bytes]:
        """The whole of one output stream, in chunks."""
        evaluation = self.get(evaluation_id)
        if not getattr(evaluation, f"{stream}_preview"):
            text: str = getattr(evaluation, stream)
            return iter([text.encode("utf-8")])
        try:
            return self._blobs.stream(_blob_key(evaluation_id, stream))
        except ObjectMissing:
            raise NotFound(
                f"the {stream} of evaluation {evaluation_id} is missing from the blob store"
            ) from None

    def dead_letters(self, *, limit: int) -> list[DeadLetter]:
        return self.backend.dead_letters(limit=limit)

    def requeue_dead_letter(self, dead_letter_id: str) -> Evaluation:
        now = _now()
        evaluation = self.backend.requeue(
            dead_letter_id,
            lambda dead: rules.new_evaluation(rules.resubmission(dead), now),
        )
        if self._backlog is not None and evaluation.owner is not None:
            # An admin's decision, beyond the bound: counted, never refused.
            owner = evaluation.owner
            with self._backlog.admitted(owner, 1, _UNBOUNDED, lambda: self._active(owner)):
                pass  # stored already: a recount since counts it twice, never not at all
        return self._committed(evaluation, rules.first_event(evaluation))

    def statistics(self) -> StatisticsReport:
        now = _now()
        return statistics.report(
            self.backend.tallies(), self.backend.timings(now - statistics.WINDOW), now
        )

    def purge(self) -> list[str]:
        """Removes what was deleted longer ago than the retention, blobs too.

        The records go first: a crash before the blobs are gone leaves blobs
        nothing refers to, never an evaluation whose output is missing.
        """
        purged = self.backend.purge(_now() - self._retention)
        for evaluation_id in purged:
            for stream in _STREAMS:
                self._blobs.delete(_blob_key(evaluation_id, stream))
            if self._redis is not None:
                self._redis.forget(evaluation_id)
        return purged

    def add_key(self, key: StoredKey) -> StoredKey:
        self.backend.insert_key(key)
        return key

    def keys(self) -> list[StoredKey]:
        return self.backend.keys()

    def key_by_hash(self, key_sha256: str) -> StoredKey:
        return self.backend.key_by_hash(key_sha256)

    def revoke_key(self, key_id: str) -> StoredKey:
        return self.backend.revoke_key(key_id, _now())

    def info(self) -> StorageInfo:
        evaluations, deleted = self.backend.totals()
        blobs, blob_bytes = self._blobs.usage(_BLOBS)
        return StorageInfo(
            backend=self.backend.name,
            blob_backend=self._blob_backend,
            location=self.backend.location,
            blob_threshold_bytes=self._threshold,
            evaluations=evaluations,
            deleted=deleted,
            blobs=blobs,
            blob_bytes=blob_bytes,
        )

    def ready(self) -> bool:
        return self.backend.ready() and self._blobs.ready()

    def _put_blobs(self, evaluation_id: str, large: dict[Stream, bytes]) -> None:
        """Called once a write is allowed, and under the backend's lock on the
        evaluation: a write refused, or beaten by another, never replaces the
        output of the one that stands."""
        for stream, data in large.items():
            self._blobs.put(_blob_key(evaluation_id, stream), data)

    def _outputs(
        self, stdout: str | None, stderr: str | None
    ) -> tuple[dict[str, object], dict[Stream, bytes]]:
        """The output fields to store, and the outputs for the blob store: of
        a large output, the evaluation keeps only its beginning and its size."""
        fields: dict[str, object] = {}
        large: dict[Stream, bytes] = {}
        for stream, text in zip(_STREAMS, (stdout, stderr), strict=True):
            if text is None:
                continue
            data = text.encode("utf-8")
            if len(data) > self._threshold:
                large[stream] = data
                # Cut at a character boundary: only the last one can be split.
                fields[stream] = data[: self._threshold].decode("utf-8", errors="ignore")
            fields[f"{stream}_bytes"] = len(data)
            fields[f"{stream}_preview"] = stream in large
        return fields, large

    def _committed(self, evaluation: Evaluation, event: EvaluationEvent) -> Evaluation:
        if self._redis is not None:
            self._redis.committed(evaluation, event)
        return evaluation


def _now() -> datetime:
    return datetime.now(UTC)


def _summary(evaluation: Evaluation) -> EvaluationSummary:
    return EvaluationSummary.model_validate(evaluation, from_attributes=True)


def _execution_request(evaluation: Evaluation) -> ExecutionRequest:
    return ExecutionRequest(
        evaluation_id=evaluation.id,
        code=evaluation.code,
        stdin=evaluation.stdin,
        timeout_seconds=evaluation.timeout_seconds,
        memory_mb=evaluation.memory_mb,
        image=evaluation.image,
        tests=evaluation.tests,
        stop_on_first_failure=evaluation.stop_on_first_failure,
    )
